// A project: header, toolbar, training banner and the three tabs (Training Images, Performance,
// Predictions). Tabs and dialogs are modules loaded on first use; each gets the same `state`.
import { api } from "../api.js";
import { clear, h, progressBar, toast } from "../ui.js";
import { loadProject, projectKind } from "../projects.js";
import { projectDialog } from "./projects.js";

const TABS = [
  ["images", "Training Images", () => import("./images.js")],
  ["performance", "Performance", () => import("./performance.js")],
  ["predictions", "Predictions", () => import("./predictions.js")],
];

export async function render(root, ctx) {
  const loaded = await loadProject(ctx.projectId);
  if (!ctx.isCurrent()) return;
  const state = {
    ...loaded,
    ctx,
    // Re-reads the project, tags and iterations and draws the page again (after a change).
    reload: () => ctx.navigate(location.hash),
    openDialog: async (name, options) => (await import(`../dialogs/${name}.js`)).open(state, options),
  };
  const tab = TABS.find(([id]) => id === ctx.tab) || TABS[0];
  document.title = `${tab[1]} · ${state.project.name} · cvstudio`;
  const body = h("section", { "aria-label": tab[1] });
  clear(root, header(state), toolbar(state), trainingBanner(state), tabs(state, tab[0]), body);
  const module = await tab[2]();
  if (!ctx.isCurrent()) return;
  await module.render(body, state);
}

function header(state) {
  const { project } = state;
  return h(
    "div",
    { class: "project-head" },
    h(
      "div",
      {},
      h("p", { class: "small crumbs" }, h("a", { href: "#/" }, "Projects"), " / "),
      h("h1", {}, project.name),
      h("div", { class: "card-meta" }, projectKind(project, state.domains), project.description ? ` · ${project.description}` : ""),
    ),
    h(
      "button",
      {
        type: "button",
        onclick: () => projectDialog({ project, domains: [...state.domains.values()], ctx: state.ctx, onsaved: () => state.reload() }),
      },
      "Project settings",
    ),
  );
}

function toolbar(state) {
  const published = state.iterations.find((i) => i.publishName);
  const button = (label, dialog, kind) => h("button", { type: "button", class: kind || "", onclick: () => state.openDialog(dialog) }, label);
  return h(
    "div",
    { class: "toolbar", role: "toolbar", "aria-label": "Project actions" },
    button("Add images", "upload"),
    button("Train", "train", "primary"),
    button("Quick Test", "quicktest"),
    button(published ? "Unpublish" : "Publish", "publish"),
    button("Prediction URL", "prediction-url"),
    button("Export", "export"),
  );
}

// While an iteration trains, a live bar from its progress; the page reloads when it ends.
function trainingBanner(state) {
  const training = state.iterations.find((i) => i.status === "Training");
  const banner = h("div", { "aria-live": "polite" });
  if (!training) return banner;
  const bar = progressBar(`Training ${training.name}`);
  const label = h("span", {}, "");
  const show = (iteration) => {
    const progress = iteration.progress || { stage: "queued", percent: 0 };
    bar.set(progress.percent / 100);
    clear(label, `Training ${iteration.name}: ${progress.percent}% (${progress.stage})`);
  };
  show(training);
  clear(banner, h("div", { class: "notice stack" }, label, bar));
  const ctx = state.ctx;
  const poll = async () => {
    if (!ctx.isCurrent()) return;
    try {
      const now = await api.get(`/projects/${state.project.id}/iterations/${training.id}`);
      if (!ctx.isCurrent()) return;
      if (now.status !== "Training") {
        toast(now.status === "Completed" ? `${now.name} finished training.` : `${now.name} ${now.status.toLowerCase()}: ${now.trainingErrorDetails || "see Performance"}`, now.status === "Completed" ? "info" : "error");
        state.reload();
        return;
      }
      show(now);
    } catch (err) {
      // Gone (deleted meanwhile): draw the page again. Anything else: retried on the next tick.
      if (err.status === 404) {
        state.reload();
        return;
      }
    }
    setTimeout(poll, 2000);
  };
  setTimeout(poll, 2000);
  return banner;
}

function tabs(state, current) {
  return h(
    "nav",
    { class: "tabs", "aria-label": "Project views" },
    TABS.map(([id, label]) =>
      h("a", { href: `#/projects/${state.project.id}/${id}`, "aria-current": id === current ? "page" : null }, label),
    ),
  );
}
