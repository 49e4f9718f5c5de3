// Publish / Unpublish: make a trained iteration callable by the Prediction API under a name, or
// stop that. On success the page reloads and the Prediction URL dialog shows how to call it.
import { api } from "../api.js";
import { limits, loadConfig } from "../config.js";
import { completedIterations } from "../projects.js";
import { confirmDialog, errorNotice, field, h, openDialog, toast } from "../ui.js";
import { trainFirst } from "./quicktest.js";

// The server's rule (domain/validation.py, from /studio/api/config), checked here first to say it
// before the round trip.
const nameHint = () => `Letters, digits, spaces, '_', '.' and '-', starting with a letter or digit (up to ${limits.maxNameLength}). Apps call the model by this name.`;

export function suggestedName(iteration) {
  const cleaned = iteration.name.replace(/[^A-Za-z0-9 _.-]+/g, " ").replace(/\s+/g, " ").trim().replace(/^[^A-Za-z0-9]+/, "");
  return cleaned.slice(0, limits.maxNameLength) || "Iteration";
}

export async function open(state) {
  const published = state.iterations.find((i) => i.publishName);
  if (published) return unpublish(state, published);
  const completed = completedIterations(state.iterations);
  if (!completed.length) return trainFirst(state, "Publish");

  const iterationSelect = h("select", { name: "iteration" }, completed.map((i) => h("option", { value: i.id }, i.name)));
  const nameInput = h("input", { type: "text", name: "publish-name", value: suggestedName(completed[0]), maxlength: String(limits.maxNameLength), autocomplete: "off", spellcheck: "false" });
  let nameTouched = false;
  nameInput.addEventListener("input", () => {
    nameTouched = true;
  });
  iterationSelect.addEventListener("change", () => {
    if (!nameTouched) nameInput.value = suggestedName(completed.find((i) => i.id === iterationSelect.value));
  });
  const status = h("div", { "aria-live": "polite" });
  const body = h(
    "div",
    {},
    h("p", { class: "muted" }, "Publishing makes the iteration answer the prediction URL with the prediction key. Only one iteration of a project is published at a time here."),
    field("Iteration", iterationSelect),
    field("Publish name", nameInput, nameHint()),
    status,
  );
  openDialog({
    title: "Publish",
    body,
    actions: [
      { label: "Cancel" },
      {
        label: "Publish",
        kind: "primary",
        onclick: async () => {
          const name = nameInput.value.trim();
          if (!new RegExp(limits.publishNamePattern).test(name)) {
            status.replaceChildren(errorNotice({ message: `“${name || "(empty)"}” cannot be a publish name. ${nameHint().split(" Apps")[0]}` }));
            nameInput.focus();
            return false;
          }
          const iteration = completed.find((i) => i.id === iterationSelect.value);
          try {
            // predictionId names the prediction resource in Azure; here the prediction endpoint is this server.
            await api.post(`/projects/${state.project.id}/iterations/${iteration.id}/publish`, undefined, {
              publishName: name,
              predictionId: await predictionResource(),
            });
          } catch (err) {
            status.replaceChildren(errorNotice(err));
            return false;
          }
          toast(`${iteration.name} is published as “${name}”.`);
          state.reload();
          state.openDialog("prediction-url");
          return true;
        },
      },
    ],
  });
}

async function predictionResource() {
  try {
    const config = await loadConfig();
    return config.predictionEndpoint || location.origin;
  } catch {
    return location.origin;
  }
}

function unpublish(state, iteration) {
  const status = h("div", { "aria-live": "polite" });
  openDialog({
    title: "Unpublish",
    body: h(
      "div",
      {},
      h("p", {}, `${iteration.name} is published as “${iteration.publishName}”.`),
      h("p", { class: "muted" }, "Unpublishing stops its prediction URL at once: apps calling it get an error until you publish again."),
      status,
    ),
    actions: [
      { label: "Cancel" },
      {
        label: `Unpublish ${iteration.name}`,
        kind: "danger",
        onclick: async () => {
          const sure = await confirmDialog({
            title: `Unpublish ${iteration.name}?`,
            message: `Apps calling “${iteration.publishName}” will get an error from now on.`,
            confirm: "Unpublish",
          });
          if (!sure) return false;
          try {
            await api.delete(`/projects/${state.project.id}/iterations/${iteration.id}/publish`);
          } catch (err) {
            status.replaceChildren(errorNotice(err));
            return false;
          }
          toast(`${iteration.name} is no longer published.`);
          state.reload();
          return true;
        },
      },
    ],
  });
}
