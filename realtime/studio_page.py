"""The studio's one page: the preview, the figures and the controls (plain HTML and JavaScript).

Every control posts ``{"action", "value"}`` to ``/control``; the figures come from
``/status`` four times a second; the preview is ``/stream``. Keys as in the window:
c calibrate, l layout, s snapshot, q quit.
"""

PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>reenact studio</title>
<style>
  body { margin: 0; font: 14px/1.4 system-ui, sans-serif; background: #16181c; color: #e8e8e8; }
  header { padding: 10px 16px; background: #23262c; display: flex; gap: 16px; align-items: baseline; }
  header h1 { font-size: 18px; margin: 0; }
  header .note { color: #ff6b6b; font-weight: 600; }
  main { display: flex; gap: 16px; padding: 16px; align-items: flex-start; }
  #preview { background: #000; width: 640px; height: 640px; object-fit: contain; border-radius: 6px; }
  aside { flex: 1; display: grid; gap: 12px; min-width: 320px; max-width: 460px; }
  section { background: #23262c; border-radius: 6px; padding: 10px 12px; }
  section h2 { font-size: 13px; text-transform: uppercase; letter-spacing: .05em; color: #9aa3ad; margin: 0 0 8px; }
  .row { display: flex; gap: 8px; align-items: center; margin: 6px 0; flex-wrap: wrap; }
  label { color: #c8ced6; }
  select, input[type=text] { background: #16181c; color: #e8e8e8; border: 1px solid #3a3f47; border-radius: 4px;
    padding: 4px 6px; }
  input[type=text] { flex: 1; min-width: 120px; }
  button { background: #3a6df0; color: #fff; border: 0; border-radius: 4px; padding: 5px 10px; cursor: pointer; }
  button.plain { background: #3a3f47; }
  #figures { font: 13px/1.5 ui-monospace, monospace; white-space: pre-wrap; }
  #messages div { font-size: 13px; }
  #messages .time { color: #9aa3ad; margin-right: 6px; }
  #error { color: #ff6b6b; min-height: 1.4em; }
  a { color: #8ab4ff; }
</style>
</head>
<body>
<header><h1>reenact studio</h1><span class="note">every frame is labelled SYNTHETIC and watermarked</span>
  <span id="running"></span></header>
<main>
  <img id="preview" src="/stream" alt="the labelled output, with the driver in the corner">
  <aside>
    <section><h2>Now</h2><div id="figures">starting ...</div></section>
    <section><h2>Source</h2>
      <div class="row"><select id="source"></select><button id="source-use" class="plain">use</button></div>
      <div class="row"><input id="source-file" type="text" placeholder="a video file">
        <button id="source-file-use" class="plain">use file</button></div>
    </section>
    <section><h2>Model</h2>
      <div class="row"><select id="model"></select></div>
      <div class="row"><input id="model-file" type="text" placeholder="a .tflite file">
        <button id="model-file-use" class="plain">use file</button></div>
    </section>
    <section><h2>Face</h2>
      <div class="row"><button id="calibrate">calibrate (c)</button>
        <button id="layout" class="plain">layout (l)</button>
        <label><input id="enhance" type="checkbox"> enhancer</label></div>
      <div class="row"><label>head turn <select id="pose_gain"></select></label>
        <label>expression <select id="expression_gain"></select></label></div>
    </section>
    <section><h2>Outputs</h2>
      <div class="row"><label><input id="virtualcam" type="checkbox"> virtual camera</label>
        <select id="camera_size"></select><label><input id="window" type="checkbox"> window</label></div>
      <div class="row"><input id="record-file" type="text" value="out/studio.mp4">
        <button id="record">record</button></div>
      <div class="row"><a id="snapshot" href="/preview.jpg" download="snapshot.jpg">snapshot (s)</a>
        <button id="reset" class="plain">reset settings</button><button id="quit" class="plain">quit (q)</button></div>
    </section>
    <section><h2>Messages</h2><div id="error"></div><div id="messages"></div></section>
  </aside>
</main>
<script>
const $ = (id) => document.getElementById(id);
let status = null;

async function control(action, value) {
  const reply = await fetch("/control", {method: "POST", headers: {"Content-Type": "application/json"},
                                         body: JSON.stringify({action, value})});
  const body = await reply.json();
  $("error").textContent = body.error || "";
  if (!body.error) show(body);
}

function fill(select, options, value) {
  const wanted = JSON.stringify(options);
  if (select.dataset.options !== wanted) {
    select.innerHTML = "";
    for (const option of options) select.add(new Option(option.label, option.value));
    select.dataset.options = wanted;
  }
  if (document.activeElement !== select) select.value = String(value);
}

const ms = (value) => (value === undefined || value === null) ? "-" : value.toFixed(1);

function show(s) {
  status = s;
  const latency = s.latency_ms || {};
  const stages = Object.entries(s.stages_ms).map(([name, ms]) => `${name} ${ms}`).join("  ");
  $("figures").textContent =
    `${s.fps} fps   latency p50 ${ms(latency.p50)} / p95 ${ms(latency.p95)} ms   dropped ${s.frames_dropped}\\n` +
    `ms: ${stages || "-"}\\nsource: ${s.settings.source}\\nmodel: ${s.model}\\noutputs: ${s.outputs.join(", ")}`;
  $("running").textContent = s.running ? "running" : "stopped";
  fill($("source"), [{value: "sample", label: "sample (built in)"}, ...s.cameras], s.settings.source);
  fill($("model"), s.models, s.settings.model);
  const gains = s.gains.map((g) => ({value: String(g), label: `x${g}`}));
  fill($("pose_gain"), gains, s.settings.pose_gain);
  fill($("expression_gain"), gains, s.settings.expression_gain);
  $("enhance").checked = s.settings.enhance;
  $("virtualcam").checked = s.settings.virtualcam;
  $("window").checked = s.settings.window;
  fill($("camera_size"), s.camera_sizes.map((size) => ({value: size, label: size})), s.settings.camera_size.join("x"));
  $("record").textContent = s.settings.recording ? "stop recording" : "record";
  $("messages").innerHTML = "";
  for (const m of s.messages.slice().reverse()) {
    const line = document.createElement("div");
    line.innerHTML = `<span class="time">${m.time}</span>`;
    line.append(m.text);
    $("messages").append(line);
  }
}

async function poll() {
  try { show(await (await fetch("/status")).json()); } catch (e) { $("running").textContent = "no studio"; }
}

$("source-use").onclick = () => control("source", $("source").value);
$("source-file-use").onclick = () => control("source", $("source-file").value);
$("model").onchange = () => control("model", $("model").value);
$("model-file-use").onclick = () => control("model", $("model-file").value);
$("calibrate").onclick = () => control("calibrate");
$("layout").onclick = () => control("layout");
$("enhance").onchange = () => control("enhance", $("enhance").checked);
$("pose_gain").onchange = () => control("pose_gain", Number($("pose_gain").value));
$("expression_gain").onchange = () => control("expression_gain", Number($("expression_gain").value));
$("virtualcam").onchange = () => control("virtualcam", $("virtualcam").checked);
$("camera_size").onchange = () => control("camera_size", $("camera_size").value);
$("window").onchange = () => control("window", $("window").checked);
$("record").onclick = () => control("record", status && status.settings.recording ? "" : $("record-file").value);
$("reset").onclick = () => control("reset");
$("quit").onclick = () => control("quit");
document.addEventListener("keydown", (event) => {
  if (event.target.tagName === "INPUT") return;
  if (event.key === "c") control("calibrate");
  if (event.key === "l") control("layout");
  if (event.key === "s") $("snapshot").click();
  if (event.key === "q") control("quit");
});
poll();
setInterval(poll, 250);
</script>
</body>
</html>
"""
