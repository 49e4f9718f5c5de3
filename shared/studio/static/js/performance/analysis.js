// The per-tag table, the precision-recall curves and the confusion matrix of one iteration.
import { api } from "../api.js";
import { h, percent } from "../ui.js";
import { prCurve } from "./charts.js";
import { classificationCurve, confusionMatrix, imagesWithTag, tagCounts, NOTHING, NO_TAG } from "./metrics.js";

export function perTagTable(performance, images, { tagColorOf, detection }) {
  return h(
    "div",
    { class: "table-wrap", tabindex: "0", role: "region", "aria-label": "Performance per tag" },
    h(
      "table",
      { class: "perf-table" },
      h("caption", { class: "visually-hidden" }, "Performance per tag"),
      h(
        "thead",
        {},
        h(
          "tr",
          {},
          h("th", { scope: "col" }, "Tag"),
          h("th", { scope: "col", class: "num" }, "Precision"),
          h("th", { scope: "col", class: "num" }, "Recall"),
          h("th", { scope: "col", class: "num" }, "AP"),
          h("th", { scope: "col", class: "num" }, "Images"),
        ),
      ),
      h(
        "tbody",
        {},
        performance.perTagPerformance.map((t) =>
          h(
            "tr",
            {},
            h("th", { scope: "row" }, swatch(tagColorOf(t.id)), t.name),
            h("td", { class: "num" }, percent(t.precision)),
            h("td", { class: "num" }, percent(t.recall)),
            h("td", { class: "num" }, percent(t.averagePrecision)),
            h("td", { class: "num" }, String(imagesWithTag(images, t.id))),
          ),
        ),
      ),
    ),
    h("p", { class: "small muted" }, "Images: the held-out images carrying the tag", detection ? " (as a box)" : "", ". Precision and recall are at the thresholds above; AP does not depend on the probability threshold."),
  );
}

function swatch(color) {
  const el = h("span", { class: "swatch", "aria-hidden": "true" });
  el.style.background = color;
  return el;
}

// Classification: the exact curve of each tag from the held-out images' scores.
export function classificationCurves(performance, images, { tagColorOf }) {
  return curveGrid(
    performance.perTagPerformance.map((t) => {
      const points = classificationCurve(images, t.id);
      return prCurve({
        title: `Precision-recall curve: ${t.name}`,
        description: `${t.name}: AP ${percent(t.averagePrecision)}; at the current threshold precision ${percent(t.precision)}, recall ${percent(t.recall)}.`,
        points,
        color: tagColorOf(t.id),
        marker: { recall: t.recall, precision: t.precision },
      });
    }),
    performance,
  );
}

// Detection: matching boxes to build the exact curve would repeat the server's COCO matching in
// the browser; instead the curve is sampled honestly from the API itself: precision and recall at
// CURVE_SAMPLES probability thresholds (queried in parallel, at the current overlap), spread over
// the scores the model actually gave the held-out images' boxes (a young detector's scores can all
// sit under 5%, so fixed thresholds would miss the whole curve).
const CURVE_SAMPLES = 13;

export function sampleThresholds(images) {
  const scores = images.flatMap((i) => (i.predictions || []).filter((p) => p.boundingBox).map((p) => p.probability)).sort((a, b) => a - b);
  if (!scores.length) return [0.5];
  const picked = new Set([0]);
  for (let i = 0; i < CURVE_SAMPLES - 1; i++) {
    const at = scores[Math.round((i / (CURVE_SAMPLES - 2)) * (scores.length - 1))];
    picked.add(Math.floor(at * 1e4) / 1e4); // rounded down: the score itself still counts (>=)
  }
  return [...picked].sort((a, b) => a - b);
}

// The sampled curves depend only on the iteration and the overlap: kept, so that moving the
// probability threshold redraws the ring without querying every sample again.
const sampled = new Map();

export async function detectionCurves(base, performance, images, overlap, { tagColorOf }) {
  const thresholds = sampleThresholds(images);
  const key = `${base}|${overlap}|${thresholds.join(",")}`;
  if (!sampled.has(key)) {
    const pending = Promise.all(thresholds.map((threshold) => api.get(`${base}/performance`, { threshold, overlapThreshold: overlap })));
    sampled.set(key, pending);
    pending.catch(() => sampled.delete(key));
    if (sampled.size > 20) sampled.delete(sampled.keys().next().value);
  }
  const samples = await sampled.get(key);
  return curveGrid(
    performance.perTagPerformance.map((t) => {
      // Nothing predicted reads as precision 0 (recall 0): not a point on the curve, so dropped.
      const points = samples
        .map((sample) => sample.perTagPerformance.find((x) => x.id === t.id))
        .filter((x) => x && (x.precision > 0 || x.recall > 0))
        .map((x) => ({ recall: x.recall, precision: x.precision }))
        .sort((a, b) => a.recall - b.recall || b.precision - a.precision);
      return prCurve({
        title: `Precision-recall curve: ${t.name}`,
        description: `${t.name}: AP ${percent(t.averagePrecision)} at overlap ${percent(overlap, 0)}; sampled at ${thresholds.length} probability thresholds; at the current threshold precision ${percent(t.precision)}, recall ${percent(t.recall)}.`,
        points,
        color: tagColorOf(t.id),
        step: false,
        marker: { recall: t.recall, precision: t.precision },
      });
    }),
    performance,
  );
}

function curveGrid(charts, performance) {
  return h(
    "ul",
    { class: "pr-curves", "aria-label": "Precision-recall curves" },
    charts.map((chart, i) => h("li", { class: "pr-curve" }, h("h4", {}, performance.perTagPerformance[i].name), chart)),
  );
}

// Multiclass: true tag x predicted top tag, as a real table (it is its own text alternative).
export function confusionTable(images, performance, threshold, tagName) {
  const tagIds = performance.perTagPerformance.map((t) => t.id);
  const m = confusionMatrix(images, tagIds, threshold);
  const label = (id) => (id === NOTHING ? "Nothing above threshold" : id === NO_TAG ? "No tag" : tagName(id));
  const max = Math.max(1, ...m.rows.flatMap((r) => m.cols.map((c) => m.count(r, c))));
  return h(
    "div",
    { class: "table-wrap", tabindex: "0", role: "region", "aria-label": "Confusion matrix" },
    h(
      "table",
      { class: "confusion" },
      h("caption", {}, `Rows: the true tag. Columns: the predicted tag (the most probable one, when it reaches ${percent(threshold, 0)}). ${m.total} held-out images.`),
      h(
        "thead",
        {},
        h("tr", {}, h("td", { class: "corner" }, h("span", { class: "visually-hidden" }, "True tag / predicted tag")), m.cols.map((c) => h("th", { scope: "col", class: "num" }, label(c)))),
      ),
      h(
        "tbody",
        {},
        m.rows.map((r) =>
          h(
            "tr",
            {},
            h("th", { scope: "row" }, label(r)),
            m.cols.map((c) => {
              const n = m.count(r, c);
              const right = r === c || (r === NO_TAG && c === NOTHING);
              const level = n ? Math.min(4, Math.ceil((n / max) * 4)) : 0;
              return h("td", { class: `num cell l${level} ${n ? (right ? "right" : "wrong") : ""}` }, String(n));
            }),
          ),
        ),
      ),
    ),
  );
}

// Multilabel: no single predicted tag per image, so per-tag counts at the threshold instead.
export function countsTable(images, performance, threshold, tagName) {
  const counts = tagCounts(images, performance.perTagPerformance.map((t) => t.id), threshold);
  return h(
    "div",
    { class: "table-wrap", tabindex: "0", role: "region", "aria-label": "Right and wrong per tag" },
    h(
      "table",
      { class: "confusion counts" },
      h("caption", {}, `Per tag at the probability threshold ${percent(threshold, 0)}, over ${images.length} held-out images.`),
      h(
        "thead",
        {},
        h(
          "tr",
          {},
          h("th", { scope: "col" }, "Tag"),
          h("th", { scope: "col", class: "num" }, "Found (true positives)"),
          h("th", { scope: "col", class: "num" }, "Wrongly tagged (false positives)"),
          h("th", { scope: "col", class: "num" }, "Missed (false negatives)"),
          h("th", { scope: "col", class: "num" }, "Rightly left out (true negatives)"),
        ),
      ),
      h("tbody", {}, counts.map((c) => h("tr", {}, h("th", { scope: "row" }, tagName(c.tagId)), [c.tp, c.fp, c.fn, c.tn].map((n) => h("td", { class: "num" }, String(n)))))),
    ),
  );
}
