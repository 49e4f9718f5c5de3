// Pure functions over the held-out images of an iteration (GET .../performance/images): what the
// model predicted for each, whether that is a mistake, the confusion matrix, and the
// precision-recall curve of a classifier's tag. No DOM, no API: the page feeds them data.
//
// A held-out image: {id, width, height, thumbnailUri, tags: [{tagId, tagName}] | null,
//   regions: [{tagId, tagName, left, top, width, height}] | null,
//   predictions: [{tagId, tagName, probability, boundingBox: {left, top, width, height} | null}]}.
// The rules follow the server's evaluator (shared/vision/evaluation.py): scores compare with >=,
// and a multiclass image's predicted tag is its most probable one, when that reaches the threshold.

import { iou } from "../boxes/geometry.js";

export const NOTHING = "__nothing__"; // the multiclass column "no tag reached the threshold"
export const NO_TAG = "__no_tag__"; // the row of held-out images without a (regular) tag

export function trueTagIds(image) {
  return (image.tags || []).map((t) => t.tagId);
}

// Multiclass: the predicted tag id, or NOTHING when the top score is under the threshold.
export function topPrediction(image, threshold) {
  let best = null;
  for (const p of image.predictions || []) if (!best || p.probability > best.probability) best = p;
  return best && best.probability >= threshold ? best.tagId : NOTHING;
}

function score(image, tagId) {
  let found = 0;
  for (const p of image.predictions || []) if (p.tagId === tagId && p.probability > found) found = p.probability;
  return found;
}

// Multilabel: the tag ids whose score reaches the threshold.
export function predictedTagIds(image, threshold) {
  return [...new Set((image.predictions || []).filter((p) => p.probability >= threshold).map((p) => p.tagId))];
}

// Intersection over union of two normalised boxes: the one in ../boxes/geometry.js.
export { iou };

// Detection: the predictions kept at the threshold matched to the true boxes of the same tag
// (most probable first, each to the unmatched box with the highest IoU >= overlap: the COCO rule
// the server uses). Returns {hits: [prediction], wrong: [prediction], missed: [region]}.
export function matchBoxes(image, threshold, overlap) {
  const truth = (image.regions || []).map((r) => ({ region: r, used: false }));
  const kept = (image.predictions || []).filter((p) => p.boundingBox && p.probability >= threshold).sort((a, b) => b.probability - a.probability);
  const hits = [];
  const wrong = [];
  for (const p of kept) {
    let best = null;
    let bestIou = overlap;
    for (const t of truth) {
      if (t.used || t.region.tagId !== p.tagId) continue;
      const value = iou(p.boundingBox, t.region);
      if (value >= bestIou) {
        best = t;
        bestIou = value;
      }
    }
    if (best && bestIou > 0) {
      best.used = true;
      hits.push(p);
    } else wrong.push(p);
  }
  return { hits, wrong, missed: truth.filter((t) => !t.used).map((t) => t.region) };
}

// Whether the model got the image wrong, and a short reason in words.
export function verdict(image, { detection, multilabel, threshold, overlap, tagName }) {
  if (detection) {
    const { wrong, missed } = matchBoxes(image, threshold, overlap);
    const parts = [];
    if (missed.length) parts.push(`${missed.length} box${missed.length > 1 ? "es" : ""} missed`);
    if (wrong.length) parts.push(`${wrong.length} wrong box${wrong.length > 1 ? "es" : ""}`);
    return { mistake: parts.length > 0, reason: parts.join(", ") };
  }
  const truth = trueTagIds(image);
  if (multilabel) {
    const predicted = new Set(predictedTagIds(image, threshold));
    const missed = truth.filter((t) => !predicted.has(t));
    const extra = [...predicted].filter((t) => !truth.includes(t));
    const parts = [];
    if (missed.length) parts.push(`missed ${missed.map(tagName).join(", ")}`);
    if (extra.length) parts.push(`wrongly ${extra.map(tagName).join(", ")}`);
    return { mistake: parts.length > 0, reason: parts.join("; ") };
  }
  const predicted = topPrediction(image, threshold);
  const expected = truth[0] ?? NO_TAG;
  if (predicted === expected || (predicted === NOTHING && expected === NO_TAG)) return { mistake: false, reason: "" };
  return { mistake: true, reason: predicted === NOTHING ? "no tag reached the threshold" : `predicted ${tagName(predicted)}` };
}

// Multiclass confusion matrix: rows = true tag, columns = predicted top tag (or NOTHING).
// Every held-out image lands in exactly one cell, so the cells sum to the number of images.
export function confusionMatrix(images, tagIds, threshold) {
  const rows = [...tagIds];
  const cols = [...tagIds];
  const cells = new Map();
  for (const image of images) {
    const truth = trueTagIds(image)[0] ?? NO_TAG;
    const predicted = topPrediction(image, threshold);
    if (!rows.includes(truth)) rows.push(truth);
    if (!cols.includes(predicted)) cols.push(predicted);
    const key = `${truth}|${predicted}`;
    cells.set(key, (cells.get(key) || 0) + 1);
  }
  if (!cols.includes(NOTHING)) cols.push(NOTHING);
  return { rows, cols, count: (row, col) => cells.get(`${row}|${col}`) || 0, total: images.length };
}

// Multilabel: per tag, true and false positives and negatives at the threshold.
export function tagCounts(images, tagIds, threshold) {
  return tagIds.map((tagId) => {
    const c = { tagId, tp: 0, fp: 0, fn: 0, tn: 0 };
    for (const image of images) {
      const truth = trueTagIds(image).includes(tagId);
      const predicted = score(image, tagId) >= threshold;
      if (truth && predicted) c.tp++;
      else if (predicted) c.fp++;
      else if (truth) c.fn++;
      else c.tn++;
    }
    return c;
  });
}

// A classifier tag's precision-recall curve (scikit-learn's precision_recall_curve): the images
// sorted by the tag's score, one point per distinct score, from (recall 0, precision 1).
// Returns [{threshold, recall, precision}], recall rising; [] when no image has the tag.
export function classificationCurve(images, tagId) {
  const scored = images.map((image) => ({ s: score(image, tagId), truth: trueTagIds(image).includes(tagId) })).sort((a, b) => b.s - a.s);
  const positives = scored.filter((x) => x.truth).length;
  if (!positives) return [];
  const points = [{ threshold: 1, recall: 0, precision: 1 }];
  let tp = 0;
  let fp = 0;
  for (let i = 0; i < scored.length; i++) {
    if (scored[i].truth) tp++;
    else fp++;
    // Tied scores enter together: one point after the last of them.
    if (i + 1 < scored.length && scored[i + 1].s === scored[i].s) continue;
    points.push({ threshold: scored[i].s, recall: tp / positives, precision: tp / (tp + fp) });
    if (tp === positives) break;
  }
  return points;
}

// Images with the given tag among the held-out images (true tag or a true box of it).
export function imagesWithTag(images, tagId) {
  return images.filter((image) => trueTagIds(image).includes(tagId) || (image.regions || []).some((r) => r.tagId === tagId)).length;
}
