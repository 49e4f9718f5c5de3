// Prediction URL: how an app calls the published iteration - both URLs, the key, and a curl and a
// Python example that work as shown when pasted (they carry the real endpoint, ids, name and key).
import { api } from "../api.js";
import { loadConfig } from "../config.js";
import { copyField, copyText, errorNotice, h, openDialog } from "../ui.js";

export async function open(state) {
  let config;
  let iterations;
  try {
    // Fresh iterations: this dialog often opens right after a publish, before the page reloaded.
    [config, iterations] = await Promise.all([loadConfig(), api.get(`/projects/${state.project.id}/iterations`)]);
  } catch (err) {
    return openDialog({ title: "Prediction URL", body: errorNotice(err), actions: [{ label: "Close" }] });
  }
  const published = iterations.find((i) => i.publishName);
  if (!published) {
    return openDialog({
      title: "Prediction URL",
      body: h("div", { class: "notice warn" }, "Publish an iteration first: the prediction URL answers only for a published iteration."),
      actions: [{ label: "Close" }, { label: "Publish", kind: "primary", onclick: () => void state.openDialog("publish") }],
    });
  }
  const task = state.detection ? "detect" : "classify";
  const endpoint = config.predictionEndpoint;
  const key = config.predictionKey;
  const base = `${endpoint || "<prediction endpoint>"}${config.predictionPath}/${state.project.id}/${task}/iterations/${encodeURIComponent(published.publishName)}`;
  const imageUrl = `${base}/image`;
  const urlUrl = `${base}/url`;
  const keyText = key || "<prediction key>";

  const curl = [
    "# An image file on your computer:",
    `curl -X POST "${imageUrl}" \\`,
    `  -H "Prediction-Key: ${keyText}" \\`,
    '  -H "Content-Type: application/octet-stream" \\',
    "  --data-binary @image.jpg",
    "",
    "# An image on the web:",
    `curl -X POST "${urlUrl}" \\`,
    `  -H "Prediction-Key: ${keyText}" \\`,
    '  -H "Content-Type: application/json" \\',
    `  -d '{"url": "https://example.com/image.jpg"}'`,
  ].join("\n");
  const method = state.detection ? "detect_image" : "classify_image";
  const python = [
    "# pip install azure-cognitiveservices-vision-customvision",
    "from azure.cognitiveservices.vision.customvision.prediction import CustomVisionPredictionClient",
    "from msrest.authentication import ApiKeyCredentials",
    "",
    `credentials = ApiKeyCredentials(in_headers={"Prediction-key": ${pyString(keyText)}})`,
    `predictor = CustomVisionPredictionClient(${pyString(endpoint || "<prediction endpoint>")}, credentials)`,
    "",
    'with open("image.jpg", "rb") as f:',
    `    results = predictor.${method}(${pyString(state.project.id)}, ${pyString(published.publishName)}, f.read())`,
    "",
    "for prediction in results.predictions:",
    state.detection
      ? '    box = prediction.bounding_box\n    print(f"{prediction.tag_name}: {prediction.probability:.1%} at left={box.left:.2f} top={box.top:.2f} width={box.width:.2f} height={box.height:.2f}")'
      : '    print(f"{prediction.tag_name}: {prediction.probability:.1%}")',
  ].join("\n");

  const missing =
    !endpoint || !key
      ? h(
          "div",
          { class: "notice warn" },
          "This server does not answer predictions itself, so it cannot show the prediction endpoint and key. ",
          "In Azure they are on the prediction resource's “Keys and Endpoint” page; with `cvstudio serve` the key is printed when it starts. ",
          "Replace the <placeholders> below with them.",
        )
      : null;
  const body = h(
    "div",
    { class: "purl" },
    h("p", {}, `${published.name} is published as “${published.publishName}”. Send an image with the prediction key in the Prediction-Key header.`),
    missing,
    copyField("URL for an image file", imageUrl),
    h("p", { class: "hint-line muted small" }, "POST the image's bytes with Content-Type: application/octet-stream."),
    copyField("URL for an image on the web", urlUrl),
    h("p", { class: "hint-line muted small" }, 'POST JSON {"url": "https://…"} with Content-Type: application/json.'),
    copyField("Prediction-Key", keyText),
    example("curl example", curl),
    example("Python example", python),
  );
  return openDialog({ title: "Prediction URL", wide: true, body, actions: [{ label: "Close" }] });
}

function pyString(text) {
  return JSON.stringify(text); // a JSON string is a valid Python string literal for these values
}

// A code example with its own Copy button; focusable, since it may scroll sideways.
function example(title, code) {
  const id = `ex-${title.replace(/\W+/g, "-").toLowerCase()}`;
  return h(
    "section",
    { class: "purl-example", "aria-labelledby": id },
    h("div", { class: "row between" }, h("h3", { id }, title), h("button", { type: "button", onclick: () => copyText(code, title), "aria-label": `Copy the ${title}` }, "Copy")),
    h("pre", { tabindex: "0", "aria-labelledby": id }, h("code", {}, code)),
  );
}
