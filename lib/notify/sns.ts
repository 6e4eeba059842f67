import { PublishCommand, type SNSClient } from "@aws-sdk/client-sns";

/** A topic people subscribe to by SMS or email (the subscriptions live with the deployment). */
export interface SnsPublisher {
  publish(options: { subject: string; message: string }): Promise<void>;
}

/** Options of {@link createSnsPublisher}. */
export interface SnsPublisherOptions {
  sns: SNSClient;
  topicArn: string;
  /** SMS: one short line (an SMS segment is 160 characters; SNS splits longer ones at a cost). */
  kind: "sms" | "email";
}

/** SNS subject lines: ASCII printable, at most 100 characters. */
function subjectLine(subject: string): string {
  const ascii = subject.replace(/[^\x20-\x7e]/g, "").trim();
  return (ascii || "ops-autopilot").slice(0, 100);
}

/** Publishes to one SNS topic: SMS to on-call, or email. */
export function createSnsPublisher(options: SnsPublisherOptions): SnsPublisher {
  return {
    async publish({ subject, message }) {
      await options.sns.send(
        new PublishCommand({
          TopicArn: options.topicArn,
          ...(options.kind === "email"
            ? { Subject: subjectLine(subject), Message: message }
            : { Message: `${subject}`.slice(0, 160) }),
        }),
      );
    },
  };
}
