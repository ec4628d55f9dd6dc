// Thin fetch wrappers for the thinkstream HTTP API.

import { requestLogin } from "./login.js";
import type { Problem, Run, RunDetail, RunList, ServerInfo, ShareLink, WhoAmI } from "./types.js";

export class ApiError extends Error {
  constructor(
    public status: number,
    public problem: Problem,
  ) {
    super(problem.detail || problem.title || `HTTP ${status}`);
  }
}

export class Api {
  /**
   * base is the server origin ("" for the page's own); share, when set, is
   * a share link's secret: the run and its stream are read with it, and a
   * refused request does not ask for a login (its holder has no token).
   */
  constructor(
    public base = "",
    public share?: string,
  ) {}

  private shareQuery(sep: "?" | "&"): string {
    return this.share ? `${sep}share=${encodeURIComponent(this.share)}` : "";
  }

  /** req calls the API; a failure is an ApiError carrying the server's problem. */
  async req<T>(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<T> {
    let resp: Response;
    try {
      resp = await fetch(this.base + path, {
        method,
        headers: body !== undefined ? { "Content-Type": "application/json", ...headers } : headers,
        body: body !== undefined ? JSON.stringify(body) : undefined,
        cache: "no-store",
      });
    } catch {
      throw new ApiError(0, { title: "Cannot reach the server", detail: "Check your connection; the page retries when you try again." });
    }
    const text = await resp.text();
    let data: unknown = undefined;
    if (text) {
      try {
        data = JSON.parse(text);
      } catch {
        data = undefined;
      }
    }
    if (resp.status === 401 && this.base === "" && !this.share) requestLogin();
    if (!resp.ok) {
      const p = (data && typeof data === "object" ? data : { title: text.slice(0, 200) || resp.statusText }) as Problem;
      p.status ??= resp.status;
      throw new ApiError(resp.status, p);
    }
    return data as T;
  }

  createRun(body: unknown): Promise<Run> {
    return this.req<Run>("POST", "/v1/runs", body);
  }

  listRuns(before?: string, limit = 20): Promise<RunList> {
    const q = new URLSearchParams({ limit: String(limit) });
    if (before) q.set("before", before);
    return this.req<RunList>("GET", `/v1/runs?${q}`);
  }

  info(): Promise<ServerInfo> {
    return this.req<ServerInfo>("GET", "/v1/info");
  }

  getRun(id: string): Promise<RunDetail> {
    return this.req<RunDetail>("GET", `/v1/runs/${encodeURIComponent(id)}${this.shareQuery("?")}`);
  }

  /** createShare makes a read-only share link of a run (its owner only). */
  createShare(id: string, expiresIn?: number): Promise<ShareLink> {
    return this.req<ShareLink>("POST", `/v1/runs/${encodeURIComponent(id)}/shares`, expiresIn ? { expires_in: expiresIn } : {});
  }

  /** resolveShare says which run a share link's secret opens. */
  resolveShare(secret: string): Promise<{ run_id: string; expires_at?: string }> {
    return this.req("GET", `/v1/s/${encodeURIComponent(secret)}`);
  }

  whoami(): Promise<WhoAmI> {
    return this.req<WhoAmI>("GET", "/v1/whoami");
  }

  control(id: string, action: "cancel" | "pause" | "resume", owner: string): Promise<unknown> {
    return this.req("POST", `/v1/runs/${encodeURIComponent(id)}/${action}`, undefined, { "X-Thinkstream-Owner": owner });
  }

  annotate(id: string, step: number, note: string): Promise<unknown> {
    return this.req("POST", `/v1/runs/${encodeURIComponent(id)}/annotations`, { step, note });
  }

  eventsURL(id: string, after: number, extra = "coalesce=1"): string {
    return `${this.base}/v1/runs/${encodeURIComponent(id)}/events?after=${after}${extra ? "&" + extra : ""}${this.shareQuery("&")}`;
  }
}

/** ownerToken returns the owner token this browser stored for run id. */
export function ownerToken(id: string): string | undefined {
  try {
    return localStorage.getItem(`thinkstream.owner.${id}`) || undefined;
  } catch {
    return undefined;
  }
}

export function saveOwnerToken(id: string, token: string): void {
  try {
    localStorage.setItem(`thinkstream.owner.${id}`, token);
  } catch {}
}
