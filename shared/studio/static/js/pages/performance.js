// The Performance tab: the iterations in a rail; for the selected one its figures (precision,
// recall, AP or mAP) under a probability-threshold slider (and an overlap slider for detection)
// that re-query the API, a per-tag table, precision-recall curves, a confusion matrix and the
// held-out images, mistakes first. The thresholds live in the address (?threshold=&overlap=).
import { api } from "../api.js";
import { clear, confirmDialog, errorNotice, field, h, openDialog, percent, progressBar, tagColor, toast, when } from "../ui.js";
import { classificationCurves, confusionTable, countsTable, detectionCurves, perTagTable } from "../performance/analysis.js";
import { heldOutTiles, loadHeldOut } from "../performance/held-out.js";

const DEFAULT_THRESHOLD = 0.5; // the server's defaults (shared/vision/evaluation.py)
const DEFAULT_OVERLAP = 0.3;
const DEBOUNCE_MS = 250;

export async function render(root, state) {
  const { iterations, project, ctx } = state;
  if (!iterations.length) {
    clear(
      root,
      h(
        "div",
        { class: "empty" },
        h("strong", {}, "No model yet"),
        h("p", {}, "Train a model on your tagged images; its precision and recall show here."),
        h("button", { type: "button", class: "primary", onclick: () => state.openDialog("train") }, "Train your first model"),
      ),
    );
    return;
  }
  const selected =
    iterations.find((i) => i.id === ctx.item) || iterations.find((i) => i.status === "Completed") || iterations[0];
  const view = {
    threshold: fraction(ctx.params.threshold, DEFAULT_THRESHOLD),
    overlap: fraction(ctx.params.overlap, DEFAULT_OVERLAP),
  };
  const base = `#/projects/${project.id}/performance`;
  const hashFor = (id) => `${base}/${id}?${new URLSearchParams({ threshold: view.threshold, overlap: view.overlap })}`;
  const rail = iterationRail(state, selected, hashFor);
  const content = h("div", { class: "perf-content" });
  clear(root, h("div", { class: "layout perf-layout" }, rail, content));
  // Keeps the address and the rail's links in step with the sliders, without redrawing the page.
  view.sync = () => {
    history.replaceState(null, "", hashFor(selected.id));
    for (const link of rail.querySelectorAll("a[data-iteration]")) link.href = hashFor(link.dataset.iteration);
  };
  content.append(iterationHead(state, selected));
  if (selected.status === "Training") return training(content, state, selected);
  if (selected.status !== "Completed") return failed(content, state, selected);
  await completed(content, state, selected, view);
}

function fraction(value, fallback) {
  const n = Number.parseFloat(value);
  return Number.isFinite(n) && n >= 0 && n <= 1 ? n : fallback;
}

function trainingKind(iteration) {
  return iteration.trainingType === "Advanced" ? `Advanced, ${iteration.reservedBudgetInHours} h budget` : "Quick";
}

function statusBadge(status) {
  const kind = { Completed: "ok", Training: "accent", Failed: "error" }[status] || "";
  return h("span", { class: `badge ${kind}` }, status);
}

function iterationRail(state, selected, hashFor) {
  return h(
    "nav",
    { class: "rail perf-rail", "aria-label": "Iterations" },
    h("h2", {}, "Iterations"),
    h(
      "ul",
      {},
      state.iterations.map((it) =>
        h(
          "li",
          {},
          h(
            "a",
            { href: hashFor(it.id), "aria-current": it.id === selected.id ? "true" : null, dataset: { iteration: it.id } },
            h("span", { class: "perf-rail-name" }, it.name, statusBadge(it.status)),
            h("span", { class: "small muted" }, when(it.trainedAt || it.created), " · ", trainingKind(it)),
            it.publishName ? h("span", { class: "small perf-published" }, "Published as ", h("code", {}, it.publishName)) : null,
          ),
        ),
      ),
    ),
  );
}

function iterationHead(state, iteration) {
  return h(
    "div",
    { class: "page-head perf-head" },
    h(
      "div",
      {},
      h("h2", {}, iteration.name, " ", statusBadge(iteration.status)),
      h(
        "p",
        { class: "muted small" },
        `${trainingKind(iteration)} training · started ${when(iteration.created)}`,
        iteration.trainedAt ? ` · finished ${when(iteration.trainedAt)}` : "",
        iteration.publishName ? ` · published as “${iteration.publishName}”` : "",
      ),
    ),
    h(
      "div",
      { class: "row" },
      h("button", { type: "button", onclick: () => renameIteration(state, iteration) }, "Rename"),
      h("button", { type: "button", class: "danger", onclick: () => deleteIteration(state, iteration) }, "Delete"),
    ),
  );
}

function renameIteration(state, iteration) {
  const name = h("input", { type: "text", value: iteration.name, required: true, maxlength: "256" });
  const problem = h("div", { "aria-live": "polite" });
  openDialog({
    title: `Rename ${iteration.name}`,
    body: [field("Name", name), problem],
    actions: [
      { label: "Cancel" },
      {
        label: "Save",
        kind: "primary",
        onclick: async () => {
          const value = name.value.trim();
          if (!value) {
            clear(problem, errorNotice({ message: "Enter a name." }));
            return false;
          }
          try {
            await api.patch(`/projects/${state.project.id}/iterations/${iteration.id}`, { name: value });
          } catch (err) {
            clear(problem, errorNotice(err));
            return false;
          }
          toast(`Renamed to ${value}.`);
          state.reload();
          return true;
        },
      },
    ],
  });
  name.select();
}

async function deleteIteration(state, iteration) {
  const path = `/projects/${state.project.id}/iterations/${iteration.id}`;
  if (iteration.publishName) {
    // The server refuses to delete a published iteration: the prediction URL still uses it.
    openDialog({
      title: `Delete ${iteration.name}`,
      body: h(
        "p",
        {},
        `${iteration.name} is published as “${iteration.publishName}”, and prediction calls may be using that name. Unpublish it first, then delete it.`,
      ),
      actions: [
        { label: "Cancel" },
        {
          label: "Unpublish",
          kind: "primary",
          onclick: async () => {
            try {
              await api.delete(`${path}/publish`);
            } catch (err) {
              toast(err.message, "error");
              return true;
            }
            toast(`${iteration.name} is no longer published.`);
            state.reload();
            return true;
          },
        },
      ],
    });
    return;
  }
  const sure = await confirmDialog({
    title: `Delete ${iteration.name}?`,
    message: `${iteration.name} and its performance figures are deleted for good. Your training images stay.`,
    confirm: "Delete iteration",
  });
  if (!sure) return;
  try {
    await api.delete(path);
  } catch (err) {
    toast(err.message, "error");
    return;
  }
  toast(`${iteration.name} deleted.`);
  state.ctx.navigate(`#/projects/${state.project.id}/performance`);
}

// A training iteration: its progress, refreshed every 2 s (the banner above reloads the page when
// training ends, so this only redraws the bar).
function training(content, state, iteration) {
  const bar = progressBar(`Training progress of ${iteration.name}`);
  const label = h("p", {});
  const show = (it) => {
    const progress = it.progress || { stage: "queued", percent: 0 };
    bar.set(progress.percent / 100);
    clear(label, `${progress.percent}% done: ${progress.stage}.`);
  };
  show(iteration);
  content.append(h("div", { class: "panel stack" }, h("h3", {}, "Training…"), label, bar, h("p", { class: "small muted" }, "The figures appear here when training ends. You can keep working meanwhile.")));
  const poll = async () => {
    if (!state.ctx.isCurrent()) return;
    try {
      const now = await api.get(`/projects/${state.project.id}/iterations/${iteration.id}`);
      if (!state.ctx.isCurrent() || now.status !== "Training") return;
      show(now);
    } catch {
      // Retried on the next tick.
    }
    setTimeout(poll, 2000);
  };
  setTimeout(poll, 2000);
}

function failed(content, state, iteration) {
  content.append(
    h(
      "div",
      { class: "notice error", role: "alert" },
      h("strong", {}, `${iteration.name} could not be trained.`),
      h("p", {}, iteration.trainingErrorDetails || "The server gave no reason."),
      h("p", {}, "Check the images and tags it names, then train again."),
      h("button", { type: "button", onclick: () => state.openDialog("train") }, "Train again"),
    ),
  );
}

// A Completed iteration: the sliders, then every section, redrawn after each (debounced) change.
async function completed(content, state, iteration, view) {
  const { detection, multilabel, project, ctx } = state;
  const apiBase = `/projects/${project.id}/iterations/${iteration.id}`;
  const tagIndex = new Map(state.tags.map((t, i) => [t.id, i]));
  const tagNames = new Map(state.tags.map((t) => [t.id, t.name]));
  const tagColorOf = (id) => tagColor(tagIndex.has(id) ? tagIndex.get(id) : tagIndex.size);
  const tagName = (id) => tagNames.get(id) || "a deleted tag";

  const thresholdSlider = slider("Probability threshold", view.threshold, "How sure the model must be to count a prediction. Higher: fewer, surer predictions (precision up, recall down).");
  const overlapSlider = detection ? slider("Overlap threshold", view.overlap, "How much a predicted box must overlap the true box (intersection over union) to count as found.") : null;
  const figures = h("div", { class: "figures perf-figures", "aria-live": "polite" });
  const problem = h("div", { "aria-live": "polite" });
  const section = (title, hint) => {
    const body = h("div", {}, h("p", { class: "muted" }, "Loading…"));
    return { el: h("section", { class: "panel perf-section", "aria-label": title }, h("h3", {}, title), hint ? h("p", { class: "small muted" }, hint) : null, body), body };
  };
  const table = section("Per tag");
  const curves = section(
    "Precision-recall curves",
    detection
      ? "Each point is the API's precision and recall at one probability threshold (at the current overlap); the ring is the current threshold."
      : "Each curve moves the probability threshold over the held-out images' scores; the ring is the current threshold.",
  );
  const matrix = detection ? null : section(multilabel ? "Right and wrong, per tag" : "Confusion matrix");
  const heldOut = section("Held-out images", "Images the model did not train on, as the model sees them; mistakes first. Select one to open it at full size.");
  content.append(
    h("div", { class: "panel perf-controls" }, thresholdSlider.el, overlapSlider?.el),
    problem,
    figures,
    table.el,
    curves.el,
    matrix ? matrix.el : "",
    heldOut.el,
  );

  const heldOutImages = loadHeldOut(project.id, iteration.id);
  heldOutImages.catch(() => {}); // reported by update() below
  let ticket = 0;
  const update = async () => {
    const mine = ++ticket;
    const { threshold, overlap } = view;
    content.setAttribute("aria-busy", "true");
    try {
      const performance = await api.get(`${apiBase}/performance`, { threshold, overlapThreshold: detection ? overlap : undefined });
      if (mine !== ticket || !ctx.isCurrent()) return;
      clear(problem);
      clear(
        figures,
        figure("Precision", performance.precision, "Of the tags the model predicted, how many were right."),
        figure("Recall", performance.recall, "Of the tags that were there, how many the model found."),
        figure(detection ? "mAP" : "AP", performance.averagePrecision, detection ? "Mean average precision over the tags: the area under their precision-recall curves." : "Average precision: the area under the precision-recall curve, over all thresholds."),
      );
      const { images, total } = await heldOutImages;
      if (mine !== ticket || !ctx.isCurrent()) return;
      const options = { detection, multilabel, threshold, overlap, tagName, tagColorOf };
      clear(table.body, perTagTable(performance, images, options));
      if (!detection) clear(curves.body, classificationCurves(performance, images, options));
      else {
        // Sampled once per overlap (cached in analysis.js); redrawn so the ring follows the threshold.
        const drawn = await detectionCurves(apiBase, performance, images, overlap, options);
        if (mine !== ticket || !ctx.isCurrent()) return;
        clear(curves.body, drawn);
      }
      if (matrix) clear(matrix.body, multilabel ? countsTable(images, performance, threshold, tagName) : confusionTable(images, performance, threshold, tagName));
      clear(
        heldOut.body,
        total > images.length ? h("p", { class: "small muted" }, `Showing the first ${images.length} of ${total} held-out images.`) : null,
        images.length ? heldOutTiles(images, options) : h("p", { class: "muted" }, "This iteration kept no images aside for testing."),
      );
    } catch (err) {
      if (mine !== ticket || !ctx.isCurrent()) return;
      clear(problem, errorNotice(err));
    } finally {
      if (mine === ticket) content.setAttribute("aria-busy", "false");
    }
  };

  let timer = null;
  const changed = () => {
    view.threshold = thresholdSlider.value();
    if (overlapSlider) view.overlap = overlapSlider.value();
    view.sync();
    clearTimeout(timer);
    timer = setTimeout(update, DEBOUNCE_MS);
  };
  thresholdSlider.input.addEventListener("input", changed);
  overlapSlider?.input.addEventListener("input", changed);
  await update();
}

function figure(label, value, hint) {
  const id = `fig-${label.toLowerCase()}`;
  return h(
    "div",
    { class: "figure", role: "group", "aria-labelledby": id, title: hint },
    h("div", { class: "value" }, percent(value)),
    h("div", { class: "label", id }, label),
  );
}

// A 0..1 slider shown in percent, with its value beside it.
function slider(label, value, hint) {
  const input = h("input", { type: "range", min: "0", max: "1", step: "0.01", value: String(value) });
  const output = h("output", { class: "slider-value" });
  const show = () => {
    const text = percent(Number(input.value), 0);
    output.textContent = text;
    input.setAttribute("aria-valuetext", text);
  };
  input.addEventListener("input", show);
  show();
  const el = field(label, input, hint);
  output.htmlFor = input.id;
  el.classList.add("slider-field");
  el.insertBefore(h("div", { class: "slider-row" }, input, output), el.querySelector(".hint"));
  return { el, input, value: () => Number(input.value) };
}
