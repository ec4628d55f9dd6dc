// Wire shapes of the thinkstream API (see event.go and thinkstream.go).

export type RunState = "queued" | "running" | "completed" | "cancelled" | "failed" | "interrupted";

export interface RunError {
  code: string;
  message: string;
  retryable: boolean;
}

export interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
  reasoning_tokens: number;
}

export interface Timings {
  queue_ms: number;
  ttft_ms: number;
  total_ms: number;
  thinking_ms?: number;
  predicted_per_second?: number;
}

export interface Params {
  temperature?: number;
  top_p?: number;
  top_k?: number;
  max_tokens?: number;
  seed?: number;
}

export interface Run {
  id: string;
  state: RunState;
  problem: string;
  system?: string;
  profile?: string;
  params: Params;
  engine: string;
  model?: string;
  simulated: boolean;
  source?: string;
  created_at: string;
  started_at?: string;
  ended_at?: string;
  last_seq: number;
  answer?: string;
  usage?: Usage;
  timings?: Timings;
  error?: RunError;
  owner_token?: string;
}

export interface Stats {
  tokens: number;
  thinking_tokens: number;
  tokens_per_s: number;
  elapsed_ms: number;
  viewers: number;
}

export interface Annotation {
  step: number;
  note?: string;
  by?: string;
}

export interface TSEvent {
  seq: number;
  t: number;
  type: string;
  from?: number;
  text?: string;
  index?: number;
  step?: number;
  lang?: string;
  block?: number;
  channel?: "thinking" | "answer";
  answer?: string;
  position?: number;
  viewers?: number;
  run?: Run;
  stats?: Stats;
  annotation?: Annotation;
  error?: RunError;
  state?: RunState;
  usage?: Usage;
  timings?: Timings;
  // stream.open
  from_seq?: number;
  resumed?: boolean;
  gap?: boolean;
}

export interface Snapshot {
  events: TSEvent[];
  thinking?: string;
  answer?: string;
  result?: string;
  annotations?: Annotation[];
}

export interface RunDetail {
  run: Run;
  snapshot: Snapshot;
  next_seq: number;
  viewers: number;
}

/** ServerInfo is GET /v1/info: the engine that answers and the profiles' defaults. */
export interface ServerInfo {
  engine: { model: string; simulated: boolean; max_parallel?: number; max_tokens?: number };
  default_profile?: string;
  profiles: { name: string; description?: string; temperature?: number; top_p?: number; top_k?: number; max_tokens?: number }[];
  max_tokens: number;
}

export interface RunList {
  runs: Run[];
  next: string | null;
}

export interface Problem {
  type?: string;
  title?: string;
  status?: number;
  detail?: string;
  errors?: { field: string; message: string }[];
}

export function isTerminal(type: string): boolean {
  return type === "run.completed" || type === "run.cancelled" || type === "run.failed" || type === "run.interrupted";
}

export function isTerminalState(s: string | undefined): boolean {
  return s === "completed" || s === "cancelled" || s === "failed" || s === "interrupted";
}

/** A share link as POST /v1/runs/{id}/shares returns it. */
export interface ShareLink {
  id: string;
  run_id: string;
  path: string;
  url: string;
  secret: string;
  expires_at?: string;
}

export interface WhoAmI {
  mode: "open" | "token";
  name?: string;
  scopes?: string[];
}
