// What a page needs to know about a project: its domain and task, its tags and iterations.
import { api } from "./api.js";

let domainsOnce = null;
export function loadDomains() {
  domainsOnce ??= api.get("/domains").catch((err) => {
    domainsOnce = null;
    throw err;
  });
  return domainsOnce;
}

export function domainsById(domains) {
  return new Map(domains.map((d) => [d.id, d]));
}

export function isDetection(project, domains) {
  return domains.get(project.settings?.domainId)?.type === "ObjectDetection";
}

export function projectKind(project, domains) {
  const domain = domains.get(project.settings?.domainId);
  if (!domain) return "Unknown domain";
  const task = domain.type === "ObjectDetection" ? "Object detection" : project.settings.classificationType === "Multilabel" ? "Classification (multilabel)" : "Classification (multiclass)";
  return `${task} · ${domain.name}`;
}

// The project page's shared state: one object handed to every tab and dialog.
export async function loadProject(projectId) {
  const [project, domains, tags, iterations] = await Promise.all([
    api.get(`/projects/${projectId}`),
    loadDomains().then(domainsById),
    api.get(`/projects/${projectId}/tags`),
    api.get(`/projects/${projectId}/iterations`),
  ]);
  iterations.sort((a, b) => b.created.localeCompare(a.created));
  tags.sort((a, b) => a.name.localeCompare(b.name));
  return {
    project,
    domains,
    domain: domains.get(project.settings?.domainId),
    detection: isDetection(project, domains),
    multilabel: project.settings?.classificationType === "Multilabel",
    tags,
    iterations,
  };
}

export function completedIterations(iterations) {
  return iterations.filter((i) => i.status === "Completed");
}

// A new tag (the API refuses a duplicate name in plain words).
export function createTag(projectId, name) {
  return api.post(`/projects/${projectId}/tags`, undefined, { name: name.trim() });
}
