// Projects: a gallery of cards, and the dialog that creates or edits one.
import { api } from "../api.js";
import { clear, confirmDialog, errorNotice, field, h, openDialog, toast, when } from "../ui.js";
import { domainsById, loadDomains, projectKind } from "../projects.js";

export async function render(root, ctx) {
  document.title = "Projects · cvstudio";
  const [projects, domains] = await Promise.all([api.get("/projects"), loadDomains()]);
  if (!ctx.isCurrent()) return;
  projects.sort((a, b) => (b.lastModified || "").localeCompare(a.lastModified || ""));
  const list = h("ul", { class: "cards", "aria-label": "Projects" });
  clear(
    root,
    h(
      "div",
      { class: "page-head" },
      h("div", {}, h("h1", {}, "Projects"), h("p", { class: "muted" }, "Each project trains one model: an image classifier or an object detector.")),
      h("button", { type: "button", class: "primary", onclick: () => projectDialog({ domains, ctx }) }, "New project"),
    ),
    projects.length ? list : emptyState(domains, ctx),
  );
  const byId = domainsById(domains);
  for (const project of projects) list.append(card(project, byId, ctx));
}

function emptyState(domains, ctx) {
  return h(
    "div",
    { class: "empty" },
    h("strong", {}, "No projects yet"),
    h("p", {}, "Create a project, add a few labelled images, and train your first model in minutes."),
    h("button", { type: "button", class: "primary", onclick: () => projectDialog({ domains, ctx }) }, "Create your first project"),
  );
}

function card(project, domains, ctx) {
  const thumb = h("div", { class: "card-thumb", "aria-hidden": "true" }, "No images yet");
  const status = h("span", { class: "card-meta" }, "");
  const item = h(
    "li",
    { class: "card" },
    h(
      "a",
      { class: "card-link", href: `#/projects/${project.id}/images` },
      thumb,
      h(
        "div",
        { class: "card-body" },
        h("h2", { class: "card-title" }, project.name),
        h("div", { class: "card-meta" }, projectKind(project, domains)),
        project.description ? h("p", { class: "card-meta" }, project.description) : null,
        status,
      ),
    ),
    h(
      "div",
      { class: "row card-actions" },
      h("button", { type: "button", onclick: () => projectDialog({ project, domains: [...domains.values()], ctx }) }, "Edit", h("span", { class: "visually-hidden" }, ` ${project.name}`)),
      h("button", { type: "button", class: "danger", onclick: () => deleteProject(project, ctx) }, "Delete", h("span", { class: "visually-hidden" }, ` ${project.name}`)),
    ),
  );
  // The thumbnail and last iteration come after first paint, one small call each, and only for
  // cards near the view: a gallery of hundreds of projects costs two calls per card seen.
  whenSeen(item, () => {
    api.get(`/projects/${project.id}/images`, { take: 1 }).then((images) => {
      if (images && images[0]) clear(thumb, h("img", { src: images[0].thumbnailUri, alt: "" }));
    }).catch(() => {});
    api.get(`/projects/${project.id}/iterations`).then((iterations) => {
      const last = (iterations || []).sort((a, b) => b.created.localeCompare(a.created))[0];
      clear(status, last ? `${last.name}: ${last.status}${last.publishName ? ` · published as ${last.publishName}` : ""} · ${when(last.lastModified)}` : "Not trained yet");
    }).catch(() => {});
  });
  return item;
}

const pending = new WeakMap();
const nearView = new IntersectionObserver(
  (entries) => {
    for (const entry of entries) {
      if (!entry.isIntersecting) continue;
      nearView.unobserve(entry.target);
      pending.get(entry.target)?.();
      pending.delete(entry.target);
    }
  },
  { rootMargin: "400px 0px" },
);

function whenSeen(element, load) {
  pending.set(element, load);
  nearView.observe(element);
}

async function deleteProject(project, ctx) {
  const sure = await confirmDialog({
    title: `Delete ${project.name}?`,
    message: "Its images, tags and iterations are deleted for good. Published iterations stop answering predictions.",
    confirm: "Delete project",
  });
  if (!sure) return;
  try {
    await api.delete(`/projects/${project.id}`);
    toast(`${project.name} deleted.`);
    ctx.navigate("#/");
  } catch (err) {
    toast(err.message, "error");
  }
}

// Create (no project) or edit (a project): name, description, type and domain.
export function projectDialog({ project, domains, ctx, onsaved }) {
  const editing = Boolean(project);
  const name = h("input", { type: "text", required: true, maxlength: 1024, value: project?.name || "", autocomplete: "off" });
  const description = h("textarea", {}, project?.description || "");
  const currentDomain = domains.find((d) => d.id === project?.settings?.domainId);
  const kinds = [
    ["Multiclass", "Classification", "Classification, one tag per image", "Each image shows one kind of thing: cat or dog, ripe or not."],
    ["Multilabel", "Classification", "Classification, several tags per image", "An image can have any number of tags: beach, sunset, people."],
    ["", "ObjectDetection", "Object detection", "Find where things are: a box around every object, with its tag."],
  ];
  const kindOf = (p) => (p?.settings?.classificationType && currentDomain?.type === "Classification" ? p.settings.classificationType : currentDomain?.type === "ObjectDetection" ? "" : "Multiclass");
  let kind = editing ? kindOf(project) : "Multiclass";
  const domainBox = h("div");
  const typeSet = h(
    "fieldset",
    {},
    h("legend", {}, "Project type"),
    kinds.map(([classification, type, title, hint]) =>
      h(
        "label",
        { class: "choice" },
        h("input", {
          type: "radio",
          name: "project-type",
          value: classification || type,
          checked: kind === classification,
          disabled: editing && (type === "ObjectDetection") !== (currentDomain?.type === "ObjectDetection"),
          onchange: () => {
            kind = classification;
            drawDomains();
          },
        }),
        h("span", {}, title, h("small", {}, hint)),
      ),
    ),
  );
  let domainId = project?.settings?.domainId;
  function drawDomains() {
    const type = kind ? "Classification" : "ObjectDetection";
    const choices = domains.filter((d) => d.type === type && d.enabled);
    if (!choices.some((d) => d.id === domainId)) domainId = (choices.find((d) => d.name.startsWith("General")) || choices[0])?.id;
    clear(
      domainBox,
      h(
        "fieldset",
        {},
        h("legend", {}, "Domain"),
        choices.map((d) =>
          h(
            "label",
            { class: "choice" },
            h("input", { type: "radio", name: "domain", value: d.id, checked: d.id === domainId, onchange: () => { domainId = d.id; } }),
            h("span", {}, d.name, d.exportable ? h("span", { class: "badge accent after" }, "exportable") : null, h("small", {}, d.modelInformation?.description || "")),
          ),
        ),
      ),
    );
  }
  drawDomains();
  const status = h("div", { "aria-live": "polite" });
  openDialog({
    title: editing ? `Edit ${project.name}` : "New project",
    body: [field("Name", name), field("Description", description, "Optional: what the model is for."), typeSet, domainBox, status],
    actions: [
      { label: "Cancel" },
      {
        label: editing ? "Save" : "Create project",
        kind: "primary",
        onclick: async () => {
          clear(status);
          if (!name.value.trim()) {
            clear(status, errorNotice({ message: "Give the project a name." }));
            name.focus();
            return false;
          }
          try {
            let saved;
            if (editing) {
              saved = await api.patch(`/projects/${project.id}`, {
                name: name.value.trim(),
                description: description.value,
                settings: { domainId, classificationType: kind || undefined },
              });
              toast("Project saved.");
            } else {
              saved = await api.post("/projects", undefined, {
                name: name.value.trim(),
                description: description.value,
                domainId,
                classificationType: kind || undefined,
              });
              toast(`${saved.name} created.`);
            }
            if (onsaved) onsaved(saved);
            else ctx.navigate(editing ? location.hash : `#/projects/${saved.id}/images`);
          } catch (err) {
            clear(status, errorNotice(err));
            return false;
          }
        },
      },
    ],
  });
  name.focus();
}
