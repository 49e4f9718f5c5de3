// The image list the Training Images tab shows, described by the URL's query
// (?tag=&filter=tagged|untagged&iteration=&page=&pageSize=). The grid pages through it and the image
// editor walks it (previous / next), so both read it from here.
import { api } from "../api.js";

export const PAGE_SIZE = 48;
const KEPT = ["tag", "filter", "iteration", "page", "pageSize"];

export function listParams(params = {}) {
  const pageSize = Math.min(256, Math.max(1, parseInt(params.pageSize, 10) || PAGE_SIZE));
  return {
    tag: params.tag || "",
    filter: params.tag ? "tag" : ["tagged", "untagged"].includes(params.filter) ? params.filter : "all",
    iteration: params.iteration || "",
    page: Math.max(1, parseInt(params.page, 10) || 1),
    pageSize,
    customPageSize: Boolean(params.pageSize),
  };
}

// The list's query string; `changes` override (null removes). Only the list's own keys travel.
export function listQuery(params, changes = {}) {
  const merged = { ...params, ...changes };
  const query = new URLSearchParams();
  for (const key of [...KEPT, "i"]) {
    const value = merged[key];
    if (value === undefined || value === null || value === "") continue;
    if (key === "filter" && (value === "all" || value === "tag")) continue;
    if (key === "page" && String(value) === "1") continue;
    if (key === "pageSize" && !merged.customPageSize && !changes.pageSize) continue;
    query.set(key, String(value));
  }
  const text = query.toString();
  return text ? `?${text}` : "";
}

export function gridHash(projectId, params, changes) {
  const query = listQuery(params, { i: null, ...changes });
  return `#/projects/${projectId}/images${query}`;
}

export function editorHash(projectId, imageId, params, index) {
  return `#/projects/${projectId}/images/${imageId}${listQuery(params, { i: index })}`;
}

function where(list) {
  if (list.filter === "tag") return ["/images/tagged", { tagIds: list.tag }];
  if (list.filter === "tagged") return ["/images/tagged", {}];
  if (list.filter === "untagged") return ["/images/untagged", {}];
  return ["/images", {}];
}

export function fetchImages(projectId, list, skip, take) {
  const [path, query] = where(list);
  return api.get(`/projects/${projectId}${path}`, { ...query, iterationId: list.iteration, skip, take });
}

export function countImages(projectId, list) {
  const [path, query] = where(list);
  const countPath = path === "/images" ? "/images/count" : `${path}/count`;
  return api.get(`/projects/${projectId}${countPath}`, { ...query, iterationId: list.iteration });
}
