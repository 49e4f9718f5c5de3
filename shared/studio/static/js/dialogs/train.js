// The Train dialog: Quick or Advanced training (a budget in hours), optionally only some tags.
// Before calling the API it shows how many images each tag has and says what is missing, with the
// server's own limits (from /studio/api/config); when the API still refuses, its message is shown.
import { api } from "../api.js";
import { limits } from "../config.js";
import { clear, errorNotice, field, h, openDialog } from "../ui.js";

// What the studio offers (the API sets no upper bound; Advanced stops early when nothing improves).
const MAX_BUDGET_HOURS = 24;

function minimumImages(detection) {
  return detection ? limits.minImagesPerTagDetection : limits.minImagesPerTagClassification;
}

// What stops training, in plain words, or [] when it can start. Mirrors _check_enough in
// shared/services/training.py: tags without images are left out, the others need the minimum.
export function trainingProblems({ tags, detection, multilabel }) {
  const minimum = minimumImages(detection);
  const what = detection ? "images with boxes" : "images";
  const regular = tags.filter((t) => t.type !== "Negative");
  const used = regular.filter((t) => t.imageCount > 0);
  const neededTags = !detection && !multilabel ? 2 : 1;
  const problems = [];
  if (used.length < neededTags) {
    problems.push(
      neededTags > 1
        ? `A multiclass model chooses between tags: tag ${what} with at least 2 tags (${used.length ? `only ${used[0].name} has ${what}` : `no tag has ${what} yet`}).`
        : `Tag some ${what} first: no tag has any yet.`,
    );
  }
  for (const tag of used) {
    if (tag.imageCount < minimum) {
      const more = minimum - tag.imageCount;
      problems.push(`${tag.name} needs ${more} more ${more === 1 ? what.replace("images", "image") : what}: every tag needs at least ${minimum}.`);
    }
  }
  return problems;
}

export function open(state) {
  const { project, tags, detection, multilabel } = state;
  const regular = tags.filter((t) => t.type !== "Negative");
  const minimum = minimumImages(detection);

  const quick = h("input", { type: "radio", name: "training-type", value: "Regular", checked: true });
  const advanced = h("input", { type: "radio", name: "training-type", value: "Advanced" });
  const budget = h("input", { type: "number", min: "1", max: String(MAX_BUDGET_HOURS), step: "1", value: "1", inputmode: "numeric" });
  const budgetField = field(
    "Training budget (hours)",
    budget,
    `The most time training may take, from 1 to ${MAX_BUDGET_HOURS} hours. Advanced training keeps trying better models until the budget is used or nothing improves; a bigger budget can give a more accurate model.`,
  );
  budgetField.hidden = true;

  const onlySome = h("input", { type: "checkbox" });
  const tagBoxes = regular.map((tag) => ({ tag, box: h("input", { type: "checkbox", value: tag.id, checked: true }) }));
  const tagList = h(
    "fieldset",
    { class: "train-tags", hidden: true },
    h("legend", {}, "Tags to train"),
    tagBoxes.map(({ tag, box }) => h("label", { class: "choice" }, box, h("span", {}, tag.name, " ", h("small", {}, count(tag.imageCount, detection))))),
  );

  const counts = h("div", { class: "train-counts" });
  const problemsBox = h("div", { "aria-live": "polite" });
  const serverBox = h("div", { "aria-live": "assertive" });
  let trainButton = null;
  let forceTrain = false;

  const chosenTags = () => (onlySome.checked ? tagBoxes.filter(({ box }) => box.checked).map(({ tag }) => tag) : regular);

  // Redraws the per-tag counts and the missing images for the current choice of tags.
  const refresh = () => {
    budgetField.hidden = !advanced.checked;
    tagList.hidden = !onlySome.checked;
    const chosen = chosenTags();
    clear(
      counts,
      regular.length
        ? h(
            "table",
            { class: "train-count-table" },
            h("caption", { class: "visually-hidden" }, "Images per tag"),
            h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Tag"), h("th", { scope: "col", class: "num" }, detection ? "Images with boxes" : "Images"), h("th", { scope: "col" }, "Ready?"))),
            h(
              "tbody",
              {},
              chosen.map((tag) =>
                h(
                  "tr",
                  {},
                  h("th", { scope: "row" }, tag.name),
                  h("td", { class: "num" }, String(tag.imageCount)),
                  h(
                    "td",
                    {},
                    tag.imageCount >= minimum
                      ? h("span", { class: "badge ok" }, "Ready")
                      : tag.imageCount === 0
                        ? h("span", { class: "badge" }, "Left out: no images")
                        : h("span", { class: "badge warn" }, `${minimum - tag.imageCount} more needed`),
                  ),
                ),
              ),
            ),
          )
        : h("p", { class: "muted" }, "This project has no tags yet."),
    );
    const problems = trainingProblems({ tags: chosen, detection, multilabel });
    clear(
      problemsBox,
      problems.length
        ? h(
            "div",
            { class: "notice warn train-problems" },
            h("strong", {}, "Training can't start yet."),
            h("ul", {}, problems.map((p) => h("li", {}, p))),
            h("p", { class: "small" }, "Add images with “Add images”, tag them on the Training Images tab, then train."),
          )
        : null,
    );
    if (trainButton) {
      trainButton.disabled = problems.length > 0 || (onlySome.checked && chosen.length === 0);
    }
  };

  for (const input of [quick, advanced, onlySome, ...tagBoxes.map((t) => t.box)]) input.addEventListener("change", () => {
    forceTrain = false;
    clear(serverBox);
    refresh();
  });

  const train = async () => {
    clear(serverBox);
    const hours = Number(budget.value);
    if (advanced.checked && !(Number.isInteger(hours) && hours >= 1 && hours <= MAX_BUDGET_HOURS)) {
      clear(serverBox, errorNotice({ message: `Enter a budget between 1 and ${MAX_BUDGET_HOURS} whole hours.` }));
      budget.focus();
      return false;
    }
    const params = {
      trainingType: advanced.checked ? "Advanced" : "Regular",
      reservedBudgetInHours: advanced.checked ? hours : 0,
      forceTrain: forceTrain ? "true" : undefined,
    };
    const body = onlySome.checked ? { selectedTags: chosenTags().map((t) => t.id) } : undefined;
    let iteration;
    try {
      iteration = await api.post(`/projects/${project.id}/train`, body, params);
    } catch (err) {
      clear(serverBox, refusal(err, () => {
        forceTrain = true;
        trainButton.click();
      }));
      return false;
    }
    // A new hash draws the project afresh (the same as state.reload()), so the banner polls the
    // new iteration and the Performance tab shows it.
    state.ctx.navigate(`#/projects/${project.id}/performance/${iteration.id}`);
    return true;
  };

  const dialog = openDialog({
    title: "Train a model",
    wide: false,
    body: [
      h(
        "fieldset",
        {},
        h("legend", {}, "Training type"),
        h("label", { class: "choice" }, quick, h("span", {}, "Quick training", h("small", {}, "Finishes in minutes. Best while you are still adding images."))),
        h("label", { class: "choice" }, advanced, h("span", {}, "Advanced training", h("small", {}, "Takes longer and usually gives a more accurate model, within a time budget you choose."))),
      ),
      budgetField,
      regular.length > 1 ? h("label", { class: "choice" }, onlySome, h("span", {}, "Train only some tags", h("small", {}, "Leave the other tags out of this iteration."))) : null,
      tagList,
      counts,
      problemsBox,
      serverBox,
    ],
    actions: [{ label: "Cancel" }, { label: "Train", kind: "primary", onclick: train }],
  });
  trainButton = dialog.querySelector(".dialog-actions button.primary");
  trainButton.setAttribute("aria-describedby", "train-problems-hint");
  problemsBox.id = "train-problems-hint";
  refresh();
  return dialog;
}

function count(n, detection) {
  return `${n} ${detection ? "with boxes" : n === 1 ? "image" : "images"}`;
}

// The API's refusal in plain words (its message, the code in small print), with the way forward
// when there is one.
const ADVICE = {
  BadRequestTrainingNotNeeded: "Nothing changed since the last training: add or retag images first, or train again anyway.",
  BadRequestWorkspaceNotModified: "Nothing changed since the last training: add or retag images first, or train again anyway.",
  BadRequestTrainingAlreadyInProgress: "This project is already training. Wait for it to finish (the bar above the tabs shows its progress), then train again.",
  BadRequestExceedIterationPerProjectLimit: "Delete an old iteration on the Performance tab, then train again.",
};

function refusal(err, trainAnyway) {
  const notice = errorNotice(err);
  const advice = ADVICE[err.code];
  if (advice) notice.prepend(h("strong", { class: "refusal-advice" }, advice), " ");
  if (err.code === "BadRequestTrainingNotNeeded" || err.code === "BadRequestWorkspaceNotModified") {
    notice.append(h("div", { class: "row" }, h("button", { type: "button", onclick: trainAnyway }, "Train again anyway")));
  }
  return notice;
}
