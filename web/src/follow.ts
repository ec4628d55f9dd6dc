// Follower keeps a view scrolled to the newest text while the reader is at
// the bottom. Only the reader stops the following: scroll events also come
// from our own scrolling and from the browser's scroll anchoring as content
// above changes size, and those must not count as "the reader scrolled up".

export class Follower {
  following = true;
  private intentAt = -Infinity;
  private pointerDown = false;
  private target: EventTarget;

  /** box: the scrolling element; undefined: the window (the page). onChange runs after every scroll. */
  constructor(
    private box: HTMLElement | undefined,
    private onChange: () => void,
  ) {
    this.target = box ?? window;
    this.target.addEventListener("scroll", this.onScroll, { passive: true });
    for (const t of ["wheel", "touchmove", "keydown", "pointerdown"]) this.target.addEventListener(t, this.onIntent, { passive: true });
    this.target.addEventListener("pointerup", this.onPointerUp, { passive: true });
  }

  private scroller(): { top: number; height: number; client: number } {
    if (!this.box) {
      const d = document.scrollingElement || document.documentElement;
      return { top: d.scrollTop, height: d.scrollHeight, client: window.innerHeight };
    }
    const s = this.box;
    return { top: s.scrollTop, height: s.scrollHeight, client: s.clientHeight };
  }

  atBottom(): boolean {
    const s = this.scroller();
    return s.height - s.top - s.client < 48;
  }

  scrollToEnd(): void {
    if (!this.box) {
      const d = document.scrollingElement || document.documentElement;
      d.scrollTop = d.scrollHeight;
    } else this.box.scrollTop = this.box.scrollHeight;
  }

  private onIntent = (e: Event) => {
    if (e.type === "keydown") {
      const k = (e as KeyboardEvent).key;
      if (!["ArrowUp", "ArrowDown", "PageUp", "PageDown", "Home", "End", " "].includes(k)) return;
    }
    if (e.type === "pointerdown") this.pointerDown = true;
    this.intentAt = performance.now();
  };

  private onPointerUp = () => {
    this.pointerDown = false;
  };

  private onScroll = () => {
    if (this.atBottom()) this.following = true;
    else if (this.pointerDown || performance.now() - this.intentAt < 1000) this.following = false;
    this.onChange();
  };

  detach(): void {
    this.target.removeEventListener("scroll", this.onScroll);
    for (const t of ["wheel", "touchmove", "keydown", "pointerdown"]) this.target.removeEventListener(t, this.onIntent);
    this.target.removeEventListener("pointerup", this.onPointerUp);
  }
}
