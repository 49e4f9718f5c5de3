// The Predictions tab: images sent to Quick Test or the prediction URL (kept 30 days), newest first,
// a page at a time through the continuation token. Filters (iteration, tag, threshold) live in the
// address; clicking an image reviews it and moves it into the training set, or deletes it.
import { api } from "../api.js";
import { completedIterations } from "../projects.js";
import { clear, confirmDialog, errorNotice, field, h, openDialog, percent, toast, when } from "../ui.js";
import { predictionReview } from "../dialogs/quicktest.js";

const PAGE = 24;

export async function render(root, state) {
  const projectId = state.project.id;
  const filters = {
    iteration: state.ctx.params.iteration || "",
    tag: state.ctx.params.tag || "",
    threshold: clampThreshold(Number(state.ctx.params.threshold ?? 50)),
  };
  const iterations = state.iterations.filter((i) => i.status === "Completed" || i.status === "Training");
  const iterationSelect = h(
    "select",
    { name: "iteration" },
    h("option", { value: "" }, "All iterations"),
    iterations.map((i) => h("option", { value: i.id, selected: i.id === filters.iteration }, i.publishName ? `${i.name} (${i.publishName})` : i.name)),
  );
  const tagSelect = h(
    "select",
    { name: "tag" },
    h("option", { value: "" }, "Any tag"),
    state.tags.map((t) => h("option", { value: t.id, selected: t.id === filters.tag }, t.name)),
  );
  const slider = h("input", { type: "range", name: "threshold", min: "0", max: "100", step: "5", value: String(filters.threshold) });
  const sliderValue = h("output", { class: "value" }, `${filters.threshold}%`);
  const thresholdField = field("Probability threshold", slider, "Predictions below it are not shown; with a tag chosen, only images where it reaches the threshold.");
  thresholdField.querySelector("label").append(" ", sliderValue);

  const grid = h("ul", { class: "image-grid pred-grid", "aria-label": "Stored predictions" });
  const status = h("div", { "aria-live": "polite", class: "pred-status" });
  const more = h("button", { type: "button" }, "Load more");
  // Present only while the server says there is more (the hidden attribute loses to button CSS).
  const pager = h("div", { class: "pager" });
  let token = null;
  let query = 0; // a newer query makes the answers of older ones moot

  const load = async (fresh) => {
    const ticket = fresh ? ++query : query;
    if (fresh) {
      token = {
        maxCount: PAGE,
        orderBy: "Newest",
        iterationId: filters.iteration || null,
        tags: filters.tag ? [{ id: filters.tag, minThreshold: filters.threshold / 100, maxThreshold: 1 }] : [],
      };
      clear(grid);
      clear(pager);
      clear(status, h("p", { class: "muted" }, "Loading predictions…"));
    }
    more.disabled = true;
    grid.setAttribute("aria-busy", "true");
    try {
      const page = await api.post(`/projects/${projectId}/predictions/query`, token);
      if (ticket !== query || !state.ctx.isCurrent()) return;
      for (const result of page.results) grid.append(tile(state, result, filters));
      token = page.token;
      clear(pager, page.token.continuation ? more : null);
      clear(status, grid.children.length ? null : empty(filters));
    } catch (err) {
      if (ticket === query) clear(status, errorNotice(err));
    } finally {
      if (ticket === query) grid.removeAttribute("aria-busy");
      more.disabled = false;
    }
  };
  more.addEventListener("click", () => load(false));

  const changed = () => {
    filters.iteration = iterationSelect.value;
    filters.tag = tagSelect.value;
    filters.threshold = clampThreshold(Number(slider.value));
    // Kept in the address (no reload: replaceState fires no hashchange) so a refresh keeps them.
    const params = new URLSearchParams();
    if (filters.iteration) params.set("iteration", filters.iteration);
    if (filters.tag) params.set("tag", filters.tag);
    if (filters.threshold !== 50) params.set("threshold", String(filters.threshold));
    const search = params.toString();
    history.replaceState(null, "", `#/projects/${projectId}/predictions${search ? `?${search}` : ""}`);
    load(true);
  };
  iterationSelect.addEventListener("change", changed);
  tagSelect.addEventListener("change", changed);
  slider.addEventListener("input", () => (sliderValue.textContent = `${slider.value}%`));
  slider.addEventListener("change", changed);

  clear(
    root,
    h(
      "div",
      { class: "pred-filters panel" },
      field("Iteration", iterationSelect),
      field("Tag", tagSelect),
      thresholdField,
    ),
    !completedIterations(state.iterations).length
      ? h("div", { class: "notice" }, "Nothing is trained yet: train the project, then test images with Quick Test or the prediction URL; they are kept here for 30 days.")
      : null,
    grid,
    status,
    pager,
  );
  await load(true);
}

function clampThreshold(value) {
  return Number.isFinite(value) ? Math.max(0, Math.min(100, Math.round(value))) : 50;
}

function empty(filters) {
  const filtered = filters.iteration || filters.tag;
  return h(
    "div",
    { class: "empty" },
    h("strong", {}, filtered ? "No predictions match these filters" : "No stored predictions yet"),
    filtered
      ? "Choose another tag or iteration, or lower the threshold."
      : "Images tested with Quick Test or sent to the prediction URL appear here for 30 days.",
  );
}

// The top predictions at or above the threshold, in words.
function summary(state, result, filters) {
  const shown = result.predictions.filter((p) => p.probability * 100 >= filters.threshold).sort((a, b) => b.probability - a.probability);
  if (!shown.length) return `Nothing at or above ${filters.threshold}%`;
  if (state.detection) {
    const counts = new Map();
    for (const p of shown) counts.set(p.tagName, (counts.get(p.tagName) || 0) + 1);
    return [...counts].map(([name, n]) => `${n} ${name}`).join(", ");
  }
  return shown.slice(0, 2).map((p) => `${p.tagName} ${percent(p.probability, 0)}`).join(", ");
}

function tile(state, result, filters) {
  const words = summary(state, result, filters);
  const item = h(
    "li",
    { class: "tile" },
    h(
      "button",
      { type: "button", class: "tile-open", "aria-label": `Prediction of ${when(result.created)}: ${words}`, onclick: () => review(state, result, item) },
      h("img", { src: result.thumbnailUri, alt: "", loading: "lazy" }),
    ),
    h("div", { class: "tile-tags", title: words }, words),
  );
  return item;
}

function review(state, result, item) {
  let dialog = null;
  const remove = () => {
    item.remove();
    dialog?.close();
  };
  const deleteButton = h("button", { type: "button", class: "danger" }, "Delete");
  deleteButton.addEventListener("click", async () => {
    const sure = await confirmDialog({ title: "Delete this prediction?", message: "The image and its predictions are removed from Predictions. The model is not affected.", confirm: "Delete" });
    if (!sure) return;
    try {
      await api.delete(`/projects/${state.project.id}/predictions`, { ids: result.id });
      toast("The prediction was deleted.");
      remove();
    } catch (err) {
      toast(err.message, "error");
    }
  });
  const panel = predictionReview(state, {
    imageUrl: result.originalImageUri,
    prediction: result,
    startEditing: true,
    moveLabel: "Move to training set",
    onMoved: () => {
      toast("The image was moved to the training set.");
      remove();
    },
    extraActions: [deleteButton],
  });
  dialog = openDialog({
    title: `Prediction of ${when(result.created)}`,
    wide: true,
    body: panel.element,
    actions: [{ label: "Close" }],
    onclose: () => panel.destroy(),
  });
}
