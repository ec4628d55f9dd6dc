// Announcer speaks through a view's polite live region. Step completions
// are announced at most every few seconds, as a range: a fast run finishes
// several steps a second, and a screen reader should not be made to read
// them all. The final answer is the last word: steps still due then are
// dropped.

export class Announcer {
  private steps: number[] = [];
  private timer?: ReturnType<typeof setTimeout>;
  private last = -Infinity;
  private stopped = false;

  constructor(private live: HTMLElement) {}

  say(text: string): void {
    // Re-set the text so a repeated message is announced again.
    this.live.textContent = "";
    this.live.textContent = text;
  }

  step(i: number): void {
    this.steps.push(i);
    if (this.timer) return;
    const wait = Math.max(0, this.last + 4000 - performance.now());
    this.timer = setTimeout(() => {
      this.timer = undefined;
      const xs = this.steps;
      this.steps = [];
      if (!xs.length || this.stopped) return;
      this.last = performance.now();
      this.say(xs.length === 1 ? `Step ${xs[0]} finished.` : `Steps ${xs[0]} to ${xs[xs.length - 1]} finished.`);
    }, wait);
  }

  /** final says text and drops the step announcements still due. */
  final(text: string): void {
    this.dropSteps();
    this.say(text);
  }

  dropSteps(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.steps = [];
  }

  pending(): boolean {
    return this.timer !== undefined;
  }

  stop(): void {
    this.stopped = true;
    this.dropSteps();
  }
}
