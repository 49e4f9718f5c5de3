// What the server says about itself (/studio/api/config): where predictions go, the limits the
// API enforces (shared/domain/limits.py) and the exports it builds ({platform, flavor} pairs). Loaded once per sign-in, before any page renders, so that
// dialogs say what is wrong before a call with the server's own numbers, never with a copy of them.
import { api } from "./api.js";

export const limits = {};
export const exportChoices = [];
let loading = null;

export function loadConfig() {
  loading ??= api.get("/studio/api/config").then(
    (config) => {
      Object.assign(limits, config.limits);
      exportChoices.splice(0, exportChoices.length, ...config.exports);
      return config;
    },
    (err) => {
      loading = null;
      throw err;
    },
  );
  return loading;
}

export function forgetConfig() {
  loading = null;
}

// "6 MB", as the limits are said to people.
export function megabytes(bytes) {
  return `${Math.round(bytes / 1024 / 1024)} MB`;
}
