/**
 * The one rule for "is this event part of the chain of thought?", the same
 * as the server's thinkstream.IsReasoning: both are tested against
 * testdata/reasoning.json. A code block with no or an unknown channel is
 * answer, so that text a viewer is shown as final is never hidden among the
 * reasoning.
 */
export function isReasoning(type: string, channel?: string): boolean {
  switch (type) {
    case "thinking":
    case "step":
      return true;
    case "code":
      return channel === "thinking";
  }
  return false;
}
