// What a reader or the run's owner does to a run from the view's toolbar:
// copy, share, pause/resume/cancel generation, highlight a step. Each says
// how it went through the live region, and a failure becomes a notice the
// view lists with the run's errors.

import { ApiError, ownerToken, type Api } from "./api.js";
import type { Announcer } from "./announcer.js";
import { copyText } from "./dom.js";
import { errorBox } from "./header.js";

export type ControlAction = "cancel" | "pause" | "resume";

export class RunActions {
  constructor(
    private api: Api,
    private announcer: Announcer,
    /** notice shows a message about the reader's action until dismissed. */
    private notice: (box: HTMLElement) => void,
    /** shareLink makes a read-only share link (undefined: share the run's own link). */
    private shareLink?: (runId: string) => Promise<string | undefined>,
  ) {}

  /** copy puts text on the clipboard and says so on btn for a moment. */
  copy(btn: HTMLElement, text: string, done = "Copied"): void {
    void copyText(text).then((ok) => this.flash(btn, ok ? done : "Copy failed"));
  }

  share(btn: HTMLElement, runId?: string): void {
    const url = runId ? new URL(`/r/${encodeURIComponent(runId)}`, this.api.base || location.href).toString() : location.href;
    const link = runId && this.shareLink ? this.shareLink(runId).catch(() => undefined) : Promise.resolve(undefined);
    void link.then((shared) => this.copy(btn, shared || url, shared ? "Share link copied" : "Link copied"));
  }

  private flash(btn: HTMLElement, text: string) {
    const old = btn.dataset.label || btn.textContent || "";
    btn.dataset.label = old;
    btn.textContent = text;
    this.announcer.say(text);
    setTimeout(() => (btn.textContent = old), 1500);
  }

  /**
   * control asks the server to cancel, pause or resume run id, as its owner.
   * It returns false when the engine cannot pause (501), so the view stops
   * offering it.
   */
  async control(id: string | undefined, action: ControlAction): Promise<boolean> {
    const tok = id && ownerToken(id);
    if (!id || !tok) return true;
    if (action === "cancel" && !confirm("Cancel this run? Generation stops and cannot be resumed.")) return true;
    try {
      await this.api.control(id, action, tok);
      this.announcer.say(action === "cancel" ? "Cancel requested." : action === "pause" ? "Generation paused." : "Generation resumed.");
    } catch (err) {
      const e = err as ApiError;
      if (e.status === 501) {
        this.notice(errorBox("This engine cannot pause generation.", "You can pause the view instead, or cancel the run."));
        return false;
      }
      this.notice(errorBox(`Could not ${action} the run: ${e.message}`, "Try again in a moment."));
    }
    return true;
  }

  /** annotate highlights step of run id; it reports whether the server took it. */
  async annotate(id: string, step: number, note: string): Promise<boolean> {
    try {
      await this.api.annotate(id, step, note);
      return true;
    } catch (err) {
      this.notice(errorBox(`Could not highlight step ${step}: ${(err as Error).message}`, "Try again."));
      return false;
    }
  }
}
