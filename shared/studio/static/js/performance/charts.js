// Inline SVG charts for the Performance tab. Presentation attributes only (stroke, fill): the CSP
// forbids style attributes. Every chart has a <title> and a <desc> for screen readers.

const SVG = "http://www.w3.org/2000/svg";
let chartCounter = 0;

function s(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attrs)) if (value !== undefined && value !== null) el.setAttribute(name, String(value));
  for (const child of children.flat(Infinity)) if (child !== null && child !== undefined) el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  return el;
}

const W = 260;
const H = 220;
const M = { left: 40, right: 12, top: 12, bottom: 36 };
const x = (recall) => M.left + recall * (W - M.left - M.right);
const y = (precision) => H - M.bottom - precision * (H - M.top - M.bottom);

// A precision-recall curve: points [{recall, precision}] (recall rising), drawn as steps (step: true,
// the classifier's exact curve) or as a line through sampled points; `marker` = {recall, precision}
// is where the current threshold puts the model.
export function prCurve({ title, description, points, color, step = true, marker = null }) {
  const id = `pr${++chartCounter}`;
  const grid = [0, 0.25, 0.5, 0.75, 1];
  let path = "";
  points.forEach((p, i) => {
    if (i === 0) path = `M${x(p.recall).toFixed(1)},${y(p.precision).toFixed(1)}`;
    else if (step) path += ` H${x(p.recall).toFixed(1)} V${y(p.precision).toFixed(1)}`;
    else path += ` L${x(p.recall).toFixed(1)},${y(p.precision).toFixed(1)}`;
  });
  return s(
    "svg",
    { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-labelledby": `${id}-t ${id}-d`, class: "pr-chart" },
    s("title", { id: `${id}-t` }, title),
    s("desc", { id: `${id}-d` }, description),
    grid.map((v) => [
      s("line", { x1: x(0), x2: x(1), y1: y(v), y2: y(v), class: "grid" }),
      s("line", { x1: x(v), x2: x(v), y1: y(0), y2: y(1), class: "grid" }),
      s("text", { x: M.left - 6, y: y(v) + 4, "text-anchor": "end", class: "tick" }, `${v * 100}`),
      s("text", { x: x(v), y: H - M.bottom + 14, "text-anchor": "middle", class: "tick" }, `${v * 100}`),
    ]),
    s("rect", { x: x(0), y: y(1), width: x(1) - x(0), height: y(0) - y(1), class: "frame" }),
    s("text", { x: (x(0) + x(1)) / 2, y: H - 4, "text-anchor": "middle", class: "axis" }, "Recall %"),
    s("text", { x: 12, y: (y(0) + y(1)) / 2, "text-anchor": "middle", transform: `rotate(-90 12 ${(y(0) + y(1)) / 2})`, class: "axis" }, "Precision %"),
    points.length ? s("path", { d: path, fill: "none", stroke: color, "stroke-width": 2.5, "stroke-linejoin": "round" }) : null,
    !step ? points.map((p) => s("circle", { cx: x(p.recall), cy: y(p.precision), r: 2.5, fill: color })) : null,
    marker ? s("circle", { cx: x(marker.recall), cy: y(marker.precision), r: 5, fill: "none", stroke: color, "stroke-width": 2, class: "marker" }) : null,
    points.length ? null : s("text", { x: (x(0) + x(1)) / 2, y: (y(0) + y(1)) / 2, "text-anchor": "middle", class: "axis" }, "No data"),
  );
}
