// The one door to the server: the Training API with the key from this browser session.
// Errors come back as ApiError with a message a person can act on (the API's code kept for small print).

export const TRAINING = "/customvision/v3.4-preview/training";
const KEY = "cvstudio.trainingKey";

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export function trainingKey() {
  return sessionStorage.getItem(KEY);
}

export function setTrainingKey(key) {
  sessionStorage.setItem(KEY, key);
}

export function forgetTrainingKey() {
  sessionStorage.removeItem(KEY);
}

const UNREACHABLE = "The server could not be reached. Check that cvstudio is running, then try again.";

const PLAIN = {
  401: "The training key was not accepted. Sign out and enter the key again.",
  413: "That is too large for the server to accept.",
};

async function errorFrom(response) {
  let code = "";
  let message = "";
  try {
    const body = await response.json();
    code = body.code || (body.error && body.error.code) || "";
    message = body.message || (body.error && body.error.message) || "";
  } catch {
    // Not JSON: fall back to the status below.
  }
  if (response.status === 401) message = PLAIN[401];
  if (!message) message = PLAIN[response.status] || `The server answered ${response.status}. Try again in a moment.`;
  return new ApiError(response.status, code, message);
}

function url(path, params) {
  const target = new URL(path.startsWith("/") && !path.startsWith(TRAINING) && !path.startsWith("/studio/") ? TRAINING + path : path, location.origin);
  for (const [name, value] of Object.entries(params || {})) {
    if (value === undefined || value === null || value === "") continue;
    target.searchParams.set(name, Array.isArray(value) ? value.join(",") : String(value));
  }
  return target;
}

// path: "/projects/..." (the training API) or "/studio/api/..."; body: an object (JSON), FormData,
// a Blob, or nothing. Returns the parsed JSON, or null for an empty answer.
export async function request(method, path, { params, body, signal } = {}) {
  const headers = { "Training-Key": trainingKey() || "" };
  let payload = body;
  if (body !== undefined && !(body instanceof FormData) && !(body instanceof Blob)) {
    headers["Content-Type"] = "application/json";
    payload = JSON.stringify(body);
  } else if (body instanceof Blob) {
    headers["Content-Type"] = "application/octet-stream";
  }
  let response;
  try {
    response = await fetch(url(path, params), { method, headers, body: payload, signal });
  } catch (err) {
    if (err.name === "AbortError") throw err;
    throw new ApiError(0, "", UNREACHABLE);
  }
  if (!response.ok && response.status !== 207) throw await errorFrom(response);
  const text = await response.text();
  return text ? JSON.parse(text) : null;
}

export const api = {
  get: (path, params, options) => request("GET", path, { ...options, params }),
  post: (path, body, params) => request("POST", path, { body, params }),
  patch: (path, body, params) => request("PATCH", path, { body, params }),
  delete: (path, params) => request("DELETE", path, { params }),
};

// Checks a key without keeping it: true when the server accepts it.
export async function keyWorks(key) {
  let response;
  try {
    response = await fetch(url("/domains"), { headers: { "Training-Key": key } });
  } catch {
    throw new ApiError(0, "", UNREACHABLE);
  }
  if (response.status === 401) return false;
  if (!response.ok) throw await errorFrom(response);
  return true;
}
