// Errors of the Upvault client: every refusal carries an RFC 9457 problem body.

/**
 * @typedef {Object} Problem RFC 9457 problem details (`Problem` in docs/openapi.json)
 * @property {string} type e.g. `urn:upvault:problem:too-large`
 * @property {string} title
 * @property {number} status HTTP status (0: no answer)
 * @property {string} detail
 * @property {string|null} [instance]
 * @property {Array<Record<string, string>>|null} [errors] field errors of a 422
 */

/**
 * An error from the API or from storage, carrying an RFC 9457 problem body.
 *
 * API errors carry the API's own `application/problem+json` body. Storage errors (S3's XML),
 * network failures and bodies that are not problem+json (API Gateway's 401 is
 * `{"message":"Unauthorized"}`) are turned into a problem with the same fields.
 */
export class UpvaultError extends Error {
  /**
   * @param {Problem} problem
   * @param {{cause?: unknown}} [options]
   */
  constructor(problem, options = {}) {
    super(problem.detail || problem.title, options);
    this.name = "UpvaultError";
    /** The RFC 9457 problem body. */
    this.problem = problem;
    /** HTTP status (0 for a network failure). */
    this.status = problem.status;
    /** The problem type URI, e.g. `urn:upvault:problem:too-large`. */
    this.type = problem.type;
  }
}

/** A problem the client itself found (no HTTP answer involved). */
export function clientError(title, detail, type = "urn:upvault:problem:client") {
  return new UpvaultError({ type, title, status: 0, detail });
}

/** @param {Response} response */
export async function apiError(response) {
  const text = await response.text().catch(() => "");
  let body = null;
  try { body = JSON.parse(text); } catch { /* not JSON */ }
  if (body && typeof body === "object" && body.type && body.title) {
    return new UpvaultError({ ...body, status: body.status ?? response.status });
  }
  // API Gateway's own answers ({"message":"Unauthorized"}) and proxies' HTML pages.
  return new UpvaultError({ type: "about:blank", title: response.statusText || `HTTP ${response.status}`,
    status: response.status, detail: body?.message || text.slice(0, 500) || `HTTP ${response.status}` });
}

/** S3's XML error answer as a problem (`urn:upvault:problem:storage:<Code>`). */
export function storageError(status, text, url) {
  const field = (name) => (new RegExp(`<${name}>([^<]*)</${name}>`).exec(text || "") || [])[1];
  const code = field("Code") || (status === 0 ? "NetworkError" : `HTTP ${status}`);
  return new UpvaultError({ type: `urn:upvault:problem:storage:${code}`, title: code, status,
    detail: field("Message") || `storage answered ${status}`, instance: hostOf(url) });
}

export function networkError(cause, what) {
  return new UpvaultError({ type: "urn:upvault:problem:network", title: "Network error", status: 0,
    detail: `${what} did not get an answer (offline, blocked by CORS, or the server is down)` }, { cause });
}

export function hostOf(url) {
  try { return new URL(url).host; } catch { return ""; }
}
