import { inflateSync } from "node:zlib";

/** A decoded image: RGBA, 8 bits a channel, row after row. */
export interface Rgba {
  width: number;
  height: number;
  pixels: Uint8Array;
}

function paeth(a: number, b: number, c: number): number {
  const p = a + b - c;
  const pa = Math.abs(p - a);
  const pb = Math.abs(p - b);
  const pc = Math.abs(p - c);
  return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
}

interface Header {
  width: number;
  height: number;
  /** 3 (RGB) or 4 (RGBA). */
  channels: number;
}

/**
 * Decodes an 8-bit RGB or RGBA, non-interlaced PNG (what Chromium's screenshots are) with nothing but
 * zlib: enough for a test to look at the pixels. Anything else is an error naming what it found.
 */
export function decodePng(data: Buffer): Rgba {
  if (data.subarray(0, 8).toString("hex") !== "89504e470d0a1a0a") throw new Error("not a PNG file");
  const { header, idat } = readChunks(data);
  const rows = unfilter(inflateSync(Buffer.concat(idat)), header);
  return { width: header.width, height: header.height, pixels: toRgba(rows, header) };
}

/** The IHDR chunk's facts and the IDAT chunks' bodies; other chunks are skipped. */
function readChunks(data: Buffer): { header: Header; idat: Buffer[] } {
  let header: Header = { width: 0, height: 0, channels: 0 };
  const idat: Buffer[] = [];
  for (let offset = 8; offset < data.length; ) {
    const length = data.readUInt32BE(offset);
    const type = data.subarray(offset + 4, offset + 8).toString("ascii");
    const body = data.subarray(offset + 8, offset + 8 + length);
    if (type === "IHDR") header = readHeader(body);
    else if (type === "IDAT") idat.push(body);
    offset += 12 + length;
  }
  return { header, idat };
}

function readHeader(body: Buffer): Header {
  const [depth, colour, , , interlace] = [body[8], body[9], body[10], body[11], body[12]];
  if (depth !== 8 || (colour !== 2 && colour !== 6) || interlace !== 0) {
    throw new Error(`unsupported PNG: bit depth ${depth}, colour type ${colour}, interlace ${interlace}`);
  }
  return { width: body.readUInt32BE(0), height: body.readUInt32BE(4), channels: colour === 6 ? 4 : 3 };
}

/** Undoes each scanline's filter (None, Sub, Up, Average, Paeth) into raw samples, row after row. */
function unfilter(raw: Buffer, { width, height, channels }: Header): Uint8Array {
  const stride = width * channels;
  const rows = new Uint8Array(height * stride);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)] ?? 0;
    const line = raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1));
    unfilterRow(rows, { y, filter, line }, { stride, channels });
  }
  return rows;
}

/** One scanline: each byte plus its filter's prediction from the left (a), upper (b) and upper-left (c) bytes. */
function unfilterRow(
  rows: Uint8Array,
  row: { y: number; filter: number; line: Buffer },
  layout: { stride: number; channels: number },
): void {
  const { y, filter, line } = row;
  const { stride, channels } = layout;
  for (let x = 0; x < stride; x++) {
    const a = x >= channels ? (rows[y * stride + x - channels] ?? 0) : 0;
    const b = y > 0 ? (rows[(y - 1) * stride + x] ?? 0) : 0;
    const c = x >= channels && y > 0 ? (rows[(y - 1) * stride + x - channels] ?? 0) : 0;
    const value = line[x] ?? 0;
    const predicted = [0, a, b, (a + b) >> 1, paeth(a, b, c)][filter] ?? 0;
    rows[y * stride + x] = (value + predicted) & 0xff;
  }
}

/** RGB or RGBA samples as RGBA (an RGB pixel is opaque). */
function toRgba(rows: Uint8Array, { width, height, channels }: Header): Uint8Array {
  const pixels = new Uint8Array(width * height * 4);
  for (let i = 0; i < width * height; i++) {
    for (let k = 0; k < 3; k++) pixels[i * 4 + k] = rows[i * channels + k] ?? 0;
    pixels[i * 4 + 3] = channels === 4 ? (rows[i * channels + 3] ?? 0) : 255;
  }
  return pixels;
}
