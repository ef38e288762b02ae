"use strict";
// This browser's jobs: listed from the server (so a reload, a new tab or a restart finds them), one of them
// open at a time; its progress and results show under its own method's tab only.
const ACTIVE = new Set(["queued", "running"]);

function openJob() {
  return state.open ? state.jobs.get(state.open) : null;
}

function seconds(s) {
  s = Math.max(1, Math.round(s));
  return s < 90 ? `${s} s` : `${Math.round(s / 60)} min`;
}

function describe(job) {
  if (job.state === "queued") return job.ahead > 0 ? `waiting: ${job.ahead} job(s) ahead of yours` : "starting...";
  if (job.state === "running") {
    const eta = job.eta == null ? "" : ` · about ${seconds(job.eta)} left`;
    return `${job.stage || "working"} · ${Math.round(job.fraction * 100)} %${eta}`;
  }
  if (job.state === "done") return `done in ${job.seconds} s`;
  if (job.state === "failed") return `failed: ${job.error}`;
  return job.state;
}

function titleOf(job) {
  const v = viewOf(job.method);
  return `${v ? v.title : job.method} · ${job.names.join(" + ")} · ${job.size} px`;
}

function renderList() {
  const list = $("jobs");
  const jobs = [...state.jobs.values()].reverse();  // newest first
  list.replaceChildren(...jobs.map((job) => {
    const button = el("button", { type: "button", className: "secondary", textContent: "open" });
    button.addEventListener("click", () => showJob(job.id));
    const item = el("li", {}, button, el("span", { textContent: ` ${titleOf(job)} — ${describe(job)}` }));
    item.dataset.id = job.id;
    if (job.id === state.open) item.setAttribute("aria-current", "true");
    return item;
  }));
  $("jobs_panel").hidden = jobs.length === 0;
}

function render() {
  renderList();
  const job = openJob();
  const here = job && job.method === state.view.name;  // another tab's job is not shown under this one
  const active = here && ACTIVE.has(job.state);
  $("go").disabled = Boolean(active);
  $("cancel").hidden = !active;
  $("progress_panel").hidden = !here;
  if (here) {
    $("progress_title").textContent = titleOf(job);
    $("bar_fill").style.width = `${Math.round((job.state === "done" ? 1 : job.fraction) * 100)}%`;
    $("status").textContent = describe(job);
  }
  if (here && job.state === "done") {
    if (state.shown !== job.id) showResults(job);
  } else {
    $("results").hidden = true;
    state.shown = null;
  }
}

async function refresh() {
  clearTimeout(state.timer);
  let res;
  try { res = await fetch("api/jobs"); } catch (e) { state.timer = setTimeout(refresh, 2000); return; }
  if (!res.ok) return;
  const before = openJob();
  state.jobs = new Map((await res.json()).jobs.map((j) => [j.id, j]));
  if (state.open && !state.jobs.has(state.open)) {
    state.open = null;
    showError("this job is gone (it expired, or the server was restarted)");
  }
  const now = openJob();
  render();
  if (now && before && ACTIVE.has(before.state) && now.state === "failed" && now.method === state.view.name) {
    showError(now.error);
  }
  if ([...state.jobs.values()].some((j) => ACTIVE.has(j.state))) state.timer = setTimeout(refresh, 700);
}

function showJob(id) {
  const job = state.jobs.get(id);
  if (!job) return;
  state.open = id;
  state.shown = null;
  if (state.view.name !== job.method) selectView(job.method); else { showError(""); render(); }
  if (job.state === "failed") showError(job.error);
  $(job.state === "done" ? "results" : "progress_panel").scrollIntoView({ behavior: "smooth", block: "start" });
}

async function resume() {
  await refresh();
  const jobs = [...state.jobs.values()];
  const active = jobs.filter((j) => ACTIVE.has(j.state));
  if (active.length) showJob(active[active.length - 1].id);  // a reload goes back to the job under way
}

async function cancel() {
  const job = openJob();
  if (job) await fetch(`api/jobs/${job.id}/cancel`, { method: "POST" });
  refresh();
}

function fileUrl(job, name, download = false) {
  return `api/jobs/${job.id}/files/${encodeURIComponent(name)}${download ? "?download=1" : ""}`;
}

// A small result is enlarged by a whole factor (never stretched to the page) and its caption says so.
function fitCaption(img, caption, name, maxWidth) {
  const w = img.naturalWidth, h = img.naturalHeight;
  const k = Math.max(1, Math.floor(Math.min(maxWidth, 512) / w));
  const width = Math.min(w * k, maxWidth);
  img.style.width = `${width}px`;
  caption.textContent = `${name} · ${w}×${h} px` + (width > w ? `, shown ${(width / w).toFixed(k === width / w ? 0 : 1)}× enlarged` : "");
  return width;
}

function figure(src, name, role) {
  const media = role === "video"
    ? el("video", { src, controls: true, loop: true, muted: true, autoplay: true, playsInline: true })
    : el("img", { src, alt: name });
  const caption = el("figcaption", { textContent: name });
  if (role !== "video") {
    media.addEventListener("load", () => {
      fitCaption(media, caption, name, Math.max(media.parentElement.clientWidth, 160));
      settle();
    });
  }
  return el("figure", { className: role }, media, caption);
}

// The results are scrolled to once shown, and again as their pictures load and the page grows under them.
function settle() {
  if (Date.now() < state.scrollUntil) $("results").scrollIntoView({ block: "start" });
}

function showResults(job) {
  state.shown = job.id;
  const v = viewOf(job.method);
  const gallery = $("gallery"), downloads = $("downloads");
  gallery.replaceChildren(); downloads.replaceChildren();
  $("results_title").textContent = `Results: ${titleOf(job)}`;
  $("warnings").replaceChildren(...job.warnings.map((w) => el("li", { textContent: w })));
  $("warnings").hidden = job.warnings.length === 0;
  const stamp = `t=${job.id.slice(0, 6)}`;
  for (const { name, role } of job.outputs) {
    if (role === "file") continue;
    gallery.append(figure(`${fileUrl(job, name)}?${stamp}`, name, role));
    if (role === "main") {  // the other image beside the result: what its look or its match came from
      gallery.append(figure(`api/jobs/${job.id}/inputs/b`, `input ${v ? v.inputs[1] : "B"}: ${job.names[1]}`, "input"));
    }
  }
  for (const { name } of job.outputs) {
    const link = el("a", { href: fileUrl(job, name, true), textContent: name === "results.zip" ? "everything (zip)" : name });
    link.setAttribute("download", name);
    downloads.append(el("li", {}, link));
  }
  showCompare(job, v);
  $("results").hidden = false;
  state.scrollUntil = Date.now() + 3000;
  settle();
}

// Before and after in one frame of the result's own proportions, so their features line up; the slider
// sits below the frame, never under the image.
function showCompare(job, v) {
  $("compare").hidden = !(v && v.compare);
  if (!v || !v.compare) return;
  const before = $("compare_before"), after = $("compare_after"), frame = $("compare_frame");
  after.onload = () => {
    const width = fitCaption(after, $("compare_caption"), `before (${v.inputs[0]}) / after`, $("results").clientWidth);
    frame.style.width = `${width}px`;
    frame.style.aspectRatio = `${after.naturalWidth} / ${after.naturalHeight}`;
    $("compare_slider").style.width = `${width}px`;
    after.style.width = "";
    settle();
  };
  before.src = `api/jobs/${job.id}/inputs/a`;
  after.src = fileUrl(job, v.compare) + `?t=${job.id.slice(0, 6)}`;
  $("compare_slider").value = 50;
  after.style.clipPath = "inset(0 0 0 50%)";
}
