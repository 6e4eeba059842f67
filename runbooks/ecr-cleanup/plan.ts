import { plural } from "../../lib/text.js";
/**
 * What ECR cleanup keeps and deletes in one repository: a pure function of what was read (images,
 * references in use) and the catalogue's rules. No AWS, no clock: `now` comes in with the policy.
 */

/** Media types of a manifest that lists other manifests (multi-arch images). */
export const INDEX_MEDIA_TYPES: readonly string[] = [
  "application/vnd.oci.image.index.v1+json",
  "application/vnd.docker.distribution.manifest.list.v2+json",
];

/** One image (manifest) of a repository, as `DescribeImages` and `BatchGetImage` describe it. */
export interface EcrImage {
  digest: string;
  tags: string[];
  pushedAt: Date;
  sizeBytes: number;
  lastPulledAt?: Date | undefined;
  manifestMediaType?: string | undefined;
  artifactMediaType?: string | undefined;
  /** OCI referrers: the manifest this artifact (signature, SBOM, SOCI index) is attached to. */
  subjectDigest?: string | undefined;
  /** For an image index / manifest list: the digests it lists. */
  children?: string[] | undefined;
}

/** A repository as read. */
export interface RepositoryState {
  repository: string;
  registryId?: string | undefined;
  /** Newest images kept whatever else holds. */
  keepLast: number;
  images: EcrImage[];
  /** Why what was read is incomplete (e.g. an index whose manifest could not be read): delete nothing. */
  unreadable?: string | undefined;
}

/** An image named somewhere that runs it or may run it again. */
export interface ImageReference {
  registryId: string;
  region: string;
  repository: string;
  tag?: string | undefined;
  digest?: string | undefined;
  /** Who uses it, for the report: `task definition api:7 (ACTIVE deployment of service …)`. */
  source: string;
}

/** The rules, from the catalogue, plus the clock. */
export interface CleanupPolicy {
  now: Date;
  region: string;
  maxAgeDays: number;
  protectedTags: RegExp[];
  /** Keep images pulled within this many days; off when undefined. */
  pulledWithinDays?: number | undefined;
  priceGbMonthUsd: number;
}

/** The keep rules of `ecr-cleanup.md`, in its order. */
export type KeepRule = "newest" | "protected-tag" | "pulled" | "in-use" | "young" | "child-of-index" | "attached";

export interface KeptImage {
  digest: string;
  tags: string[];
  /** Every rule that keeps it, in the order of the runbook page. */
  reasons: string[];
  /** The rules behind `reasons`, once each. */
  rules: KeepRule[];
}

export interface ImageDeletion {
  digest: string;
  tags: string[];
  sizeBytes: number;
  pushedAt: Date;
  /** Indexes go in the first delete calls: ECR refuses to delete a manifest an index still lists. */
  isIndex: boolean;
  /** Listed by an index of the repository (one being deleted too: children of kept indexes are kept). */
  isChild: boolean;
  /** Why nothing keeps it (age, and that no rule matched). */
  reason: string;
}

export interface RepositoryPlan {
  repository: string;
  registryId?: string | undefined;
  kept: KeptImage[];
  /** Indexes first, then the rest, then the children of deleted indexes, each newest first. */
  deletions: ImageDeletion[];
  bytesReclaimed: number;
  monthlyUsdSaved: number;
  /** Set when nothing may be deleted in this repository, and why. */
  blocked?: string | undefined;
}

const DAY_MS = 86_400_000;
/** ECR bills storage per GB-month, where a GB is 2^30 bytes. */
export const GB = 1024 ** 3;
// cosign's default (pre-referrers) layout: `sha256-<hex>.sig|.att|.sbom` tags attached to sha256:<hex>.
const COSIGN_TAG = /^sha256-([0-9a-f]{64})\.(sig|att|sbom)$/;

/** `sha256:0123456789ab` — enough of a digest to tell images apart in a report. */
export function shortDigest(digest: string): string {
  return digest.slice(0, 19);
}

function isIndex(image: EcrImage): boolean {
  return image.children !== undefined || INDEX_MEDIA_TYPES.includes(image.manifestMediaType ?? "");
}

/** The manifests an image is attached to: its OCI `subject`, or the digest a cosign tag names. */
function subjectsOf(image: EcrImage): string[] {
  const subjects = image.subjectDigest ? [image.subjectDigest] : [];
  for (const tag of image.tags) {
    const match = COSIGN_TAG.exec(tag);
    if (match) subjects.push(`sha256:${match[1]}`);
  }
  return subjects;
}

function referencesOf(state: RepositoryState, references: readonly ImageReference[], region: string) {
  const byDigest = new Map<string, string[]>();
  const digestOfTag = new Map<string, string>();
  for (const image of state.images) for (const tag of image.tags) digestOfTag.set(tag, image.digest);
  const add = (digest: string | undefined, source: string) => {
    if (!digest) return;
    byDigest.set(digest, [...(byDigest.get(digest) ?? []), source]);
  };
  for (const ref of references) {
    if (ref.repository !== state.repository || ref.region !== region) continue;
    if (state.registryId && ref.registryId !== state.registryId) continue;
    // Both: `repo:tag@digest` pulls the digest, but the tag's current image is what a redeploy would pull.
    add(ref.digest, `${ref.source} by digest`);
    if (ref.tag) add(digestOfTag.get(ref.tag), `${ref.source} as :${ref.tag}`);
  }
  return byDigest;
}

interface Reason {
  rule: KeepRule;
  text: string;
}

/** Reasons that hold for an image on its own, before following indexes and attachments. */
function ownReasons(
  image: EcrImage,
  context: { newest: Map<string, number>; keepLast: number; used: Map<string, string[]>; policy: CleanupPolicy },
): Reason[] {
  const { policy } = context;
  const reasons: Reason[] = [];
  const rank = context.newest.get(image.digest);
  if (rank !== undefined) reasons.push({ rule: "newest", text: `newest ${rank + 1} of the ${context.keepLast} kept` });
  const protectedTags = image.tags.filter((tag) => policy.protectedTags.some((p) => p.test(tag)));
  if (protectedTags.length > 0)
    reasons.push({ rule: "protected-tag", text: `protected tag ${protectedTags.join(", ")}` });
  if (policy.pulledWithinDays !== undefined && image.lastPulledAt) {
    const days = (policy.now.getTime() - image.lastPulledAt.getTime()) / DAY_MS;
    if (days <= policy.pulledWithinDays) {
      reasons.push({
        rule: "pulled",
        text: `pulled ${plural(Math.floor(days), "day")} ago (within ${policy.pulledWithinDays})`,
      });
    }
  }
  for (const source of context.used.get(image.digest) ?? [])
    reasons.push({ rule: "in-use", text: `in use: ${source}` });
  const age = (policy.now.getTime() - image.pushedAt.getTime()) / DAY_MS;
  if (age <= policy.maxAgeDays) {
    reasons.push({
      rule: "young",
      text: `pushed ${plural(Math.floor(age), "day")} ago (age limit ${policy.maxAgeDays})`,
    });
  }
  return reasons;
}

/** Rank of each of the newest `keepLast` images people pushed (by digest). */
function newestPushed(state: RepositoryState, childOf: Set<string>): Map<string, number> {
  // "Newest N" counts what people push: not the per-platform children of an index, not attachments.
  const pushed = state.images
    .filter((image) => !childOf.has(image.digest) && subjectsOf(image).length === 0)
    .sort((a, b) => b.pushedAt.getTime() - a.pushedAt.getTime() || a.digest.localeCompare(b.digest));
  return new Map(pushed.slice(0, state.keepLast).map((image, rank) => [image.digest, rank]));
}

/**
 * Why each kept image is kept: its own reasons, then, transitively, the children of a kept index and the
 * artifacts attached to a kept image. An image absent from the map is not kept.
 */
function keepReasons(
  state: RepositoryState,
  context: { newest: Map<string, number>; used: Map<string, string[]>; policy: CleanupPolicy },
): Map<string, Reason[]> {
  const byDigest = new Map(state.images.map((image) => [image.digest, image]));
  const attachments = attachmentsBySubject(state.images);
  const reasons = new Map<string, Reason[]>();
  const queue: string[] = [];
  const keep = (digest: string, why: Reason[]) => {
    if (!byDigest.has(digest) || why.length === 0) return;
    const first = !reasons.has(digest);
    reasons.set(digest, [...(reasons.get(digest) ?? []), ...why]);
    if (first) queue.push(digest);
  };
  for (const image of state.images) keep(image.digest, ownReasons(image, { ...context, keepLast: state.keepLast }));
  // Never break a kept multi-arch image or strip a kept image of its signature.
  for (let digest = queue.shift(); digest !== undefined; digest = queue.shift()) {
    const image = byDigest.get(digest);
    for (const child of image?.children ?? [])
      keep(child, [{ rule: "child-of-index", text: `child of kept image index ${shortDigest(digest)}` }]);
    for (const artifact of attachments.get(digest) ?? []) {
      const text = `${artifact.artifactMediaType ?? "artifact"} attached to kept ${shortDigest(digest)}`;
      keep(artifact.digest, [{ rule: "attached", text }]);
    }
  }
  return reasons;
}

/** The artifacts (signatures, SBOMs) attached to each subject digest. */
function attachmentsBySubject(images: readonly EcrImage[]): Map<string, EcrImage[]> {
  const attachments = new Map<string, EcrImage[]>();
  for (const image of images) {
    for (const subject of subjectsOf(image)) attachments.set(subject, [...(attachments.get(subject) ?? []), image]);
  }
  return attachments;
}

function keptImage(image: EcrImage, why: Reason[]): KeptImage {
  return {
    digest: image.digest,
    tags: image.tags,
    reasons: why.map((r) => r.text),
    rules: [...new Set(why.map((r) => r.rule))],
  };
}

function deletionOf(
  image: EcrImage,
  context: { childOf: Set<string>; policy: CleanupPolicy; keepLast: number },
): ImageDeletion {
  const { policy } = context;
  const age = Math.floor((policy.now.getTime() - image.pushedAt.getTime()) / DAY_MS);
  return {
    digest: image.digest,
    tags: image.tags,
    sizeBytes: image.sizeBytes,
    pushedAt: image.pushedAt,
    isIndex: isIndex(image),
    isChild: context.childOf.has(image.digest),
    reason: `${image.tags.length ? `tags ${image.tags.join(", ")}` : "untagged"}, pushed ${age} days ago (age limit ${policy.maxAgeDays}), not in use, not protected, not among the ${context.keepLast} newest`,
  };
}

/**
 * Decides one repository. An image is kept when any rule holds (see `ecr-cleanup.md` for the order and
 * the reason of each); the children of a kept index and the artifacts attached to a kept image are kept
 * with it, transitively. Everything else is older than the age limit, and is deleted.
 */
export function planRepository(
  state: RepositoryState,
  references: readonly ImageReference[],
  policy: CleanupPolicy,
): RepositoryPlan {
  const childOf = new Set(state.images.flatMap((image) => image.children ?? []));
  const used = referencesOf(state, references, policy.region);
  const reasons = keepReasons(state, { newest: newestPushed(state, childOf), used, policy });
  const kept: KeptImage[] = [];
  const deletions: ImageDeletion[] = [];
  for (const image of state.images) {
    const why = reasons.get(image.digest);
    if (why) kept.push(keptImage(image, why));
    else deletions.push(deletionOf(image, { childOf, policy, keepLast: state.keepLast }));
  }
  const order = (d: ImageDeletion) => (d.isIndex ? 0 : d.isChild ? 2 : 1);
  deletions.sort((a, b) => order(a) - order(b) || b.pushedAt.getTime() - a.pushedAt.getTime());
  // An index's size is the largest of its children (DescribeImages): counting it too would count twice.
  const bytesReclaimed = deletions.filter((d) => !d.isIndex).reduce((sum, d) => sum + d.sizeBytes, 0);
  return {
    repository: state.repository,
    ...(state.registryId ? { registryId: state.registryId } : {}),
    kept,
    deletions,
    bytesReclaimed,
    monthlyUsdSaved: (bytesReclaimed / GB) * policy.priceGbMonthUsd,
    ...(state.unreadable ? { blocked: state.unreadable } : {}),
  };
}
