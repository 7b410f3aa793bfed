// The console of `durable-python serve`: a runs list (#/) and a run page (#/runs/ID), drawn from
// the HTTP API. One plain ES module, no build step and nothing fetched from elsewhere, so that
// what `pip install` gives works offline. Data is put in the page as text nodes only (a run's
// arguments and results are whatever a script made them), never as HTML.

const FINAL = new Set(["completed", "exited", "cancelled"]); // the API's final statuses
const STATUSES = [
  "queued", "new", "running", "suspended", "crashed", "completed", "exited", "failed", "cancelled",
];
const POLICIES = ["effect", "awaited", "value", "output", "timer", "event", "marker", "cancel"];
const PAGE_SIZES = [5, 10, 25, 50, 100, 200];
const DEFAULT_LIMIT = 50;
const POLL_MS = 1000; // a live run's page reads it again this often
const LIST_POLL_MS = 3000; // a list with live runs on it is read again this often
const TOKEN_KEY = "durable-python-token";
const LIST_KEY = "durable-python-list"; // the last list's filters, for the way back

const view = document.getElementById("view");
const messages = document.getElementById("messages");

// ----- building the page ----------------------------------------------------------------------

// h("a", {href, class, "data-testid": ..., onclick}, child, ...): an element; strings become text.
function h(tag, attrs = {}, ...children) {
  return build(document.createElement(tag), attrs, children);
}

const SVG = "http://www.w3.org/2000/svg";
function s(tag, attrs = {}, ...children) {
  return build(document.createElementNS(SVG, tag), attrs, children);
}

function build(element, attrs, children) {
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on")) element.addEventListener(key.slice(2), value);
    else if (key === "value" || key === "checked" || key === "disabled") element[key] = value;
    else element.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    element.append(child instanceof Node ? child : String(child));
  }
  return element;
}

// ----- formatting -----------------------------------------------------------------------------

const pad = (n, width = 2) => String(n).padStart(width, "0");

function fullTime(ts) {
  if (ts === null || ts === undefined) return "";
  const d = new Date(ts * 1000);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` +
    `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

// Today's times without the date, older ones with it: a list reads faster.
function shortTime(ts) {
  const full = fullTime(ts);
  const today = fullTime(Date.now() / 1000).slice(0, 10);
  return full.startsWith(today) ? full.slice(11) : full.slice(0, 16);
}

function timeCell(ts) {
  return h("time", { datetime: new Date(ts * 1000).toISOString(), title: fullTime(ts) },
    shortTime(ts));
}

const digits3 = (x) => String(Number(x.toPrecision(3))); // 970, 12.5, 0.25: no trailing zeros

function duration(seconds) {
  if (seconds < 0) seconds = 0;
  if (seconds < 0.001) return `${(seconds * 1e6).toFixed(0)} µs`;
  if (seconds < 0.9995) return `${digits3(seconds * 1000)} ms`;
  if (seconds < 59.95) return `${digits3(seconds)} s`;
  const whole = (unit) => Math.round(seconds / unit); // in whole units, then split
  if (seconds < 3599.5) return `${Math.floor(whole(1) / 60)} min ${whole(1) % 60} s`;
  if (seconds < 86370) return `${Math.floor(whole(60) / 60)} h ${whole(60) % 60} min`;
  return `${Math.floor(whole(3600) / 24)} d ${whole(3600) % 24} h`;
}

// The arguments as a shell would want them typed: 'invoice 7' quoted, plain words as they are.
function shellWord(arg) {
  return /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replaceAll("'", `'"'"'`)}'`;
}
const commandLine = (run) => [run.script, ...run.args].map(shellWord).join(" ");

// file:line of an entry's site, with the directories left out (the title keeps them).
function shortSite(site) {
  const at = site.lastIndexOf(":");
  const path = at < 0 ? site : site.slice(0, at);
  return path.split("/").pop() + (at < 0 ? "" : site.slice(at));
}

const position = (entry) => `${entry.task}/${entry.seq}`;

function statusBadge(status, testid = "status") {
  return h("span", { class: `badge status-${status}`, "data-testid": testid,
    "data-status": status }, status);
}

// datetime-local values are local times without a zone: Date parses them as such.
const toEpoch = (local) => (local ? new Date(local).getTime() / 1000 : null);

// ----- messages -------------------------------------------------------------------------------

function showMessage(text, kind = "error") {
  // The same error from a poll every second is shown once, not stacked.
  for (const old of messages.children) {
    if (old.dataset.text === text) return;
  }
  const close = h("button", { type: "button", class: "close", "aria-label": "Dismiss",
    onclick: () => item.remove() }, "×");
  const item = h("div", { class: `message ${kind}`, role: kind === "error" ? "alert" : "status",
    "data-testid": "message", "data-kind": kind }, h("span", {}, text), close);
  item.dataset.text = text;
  messages.append(item);
  if (kind !== "error") setTimeout(() => item.remove(), 6000);
}
const showError = (error) => showMessage(error instanceof Error ? error.message : String(error));

// A new page starts without the old page's errors (notes go by themselves).
function clearErrors() {
  for (const item of [...messages.children]) {
    if (item.dataset.kind === "error") item.remove();
  }
}

// ----- the API --------------------------------------------------------------------------------

class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

function detailOf(data, text) {
  const detail = data && data.detail !== undefined ? data.detail : text;
  if (Array.isArray(detail)) { // FastAPI's validation errors: where, and what is wrong
    return detail.map((d) => `${(d.loc || []).join(".")}: ${d.msg}`).join("; ");
  }
  return typeof detail === "string" ? detail : JSON.stringify(detail);
}

let tokenAsked = null; // one prompt for every request that got 401 meanwhile

function askToken(refused) {
  if (tokenAsked) return tokenAsked;
  const form = document.getElementById("token-form");
  const input = document.getElementById("token-input");
  if (refused) showMessage("The server refused that token: give the one `serve --token` has.");
  form.hidden = false;
  input.value = "";
  input.focus();
  tokenAsked = new Promise((resolve) => {
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      sessionStorage.setItem(TOKEN_KEY, input.value);
      form.hidden = true;
      tokenAsked = null;
      resolve();
    }, { once: true });
  });
  return tokenAsked;
}

// A request to the API: its JSON answer, or an ApiError saying what the server said.
async function api(method, path, body, extraHeaders = {}) {
  for (;;) {
    const token = sessionStorage.getItem(TOKEN_KEY);
    const headers = { Accept: "application/json", ...extraHeaders };
    if (token) headers.Authorization = `Bearer ${token}`;
    const init = { method, headers };
    if (body !== undefined) {
      headers["Content-Type"] = "application/json"; // the API takes bodies as JSON only
      init.body = typeof body === "string" ? body : JSON.stringify(body);
    }
    let response;
    try {
      response = await fetch(path, init);
    } catch (error) {
      throw new ApiError(0, `${method} ${path}: no answer from the server (${error.message});` +
        " is durable-python serve running?");
    }
    if (response.status === 401) {
      await askToken(Boolean(token));
      continue;
    }
    const text = await response.text();
    let data = null;
    try {
      data = text ? JSON.parse(text) : null;
    } catch {
      data = null;
    }
    if (!response.ok) {
      throw new ApiError(response.status,
        `${method} ${path}: ${response.status} ${detailOf(data, text) || response.statusText}`);
    }
    return data;
  }
}

const runPath = (id) => `/runs/${encodeURIComponent(id)}`;

// ----- the router -----------------------------------------------------------------------------

let page = null; // what is shown: {kind, stop(), update?(params)}

function route() {
  const hash = location.hash.replace(/^#/, "") || "/";
  const [path, query = ""] = hash.split("?");
  const match = path.match(/^\/runs\/(.+)$/);
  if (!match && page && page.kind === "list") {
    page.update(new URLSearchParams(query)); // a filter changed: keep the form, read the rows
    return;
  }
  if (page) page.stop();
  clearErrors();
  view.replaceChildren();
  page = match ? runPage(decodeURIComponent(match[1])) : listPage(new URLSearchParams(query));
}

window.addEventListener("hashchange", route);

// ----- the runs list --------------------------------------------------------------------------

function listPage(initial) {
  let params = initial;
  let loads = 0; // answers to older requests than the newest are dropped
  let timer = null;
  let stopped = false;
  document.title = "Runs · durable-python";

  const field = (label, control) => h("label", { class: "field" }, h("span", {}, label), control);
  const status = h("select", { name: "status", "data-testid": "filter-status" },
    h("option", { value: "" }, "any"), STATUSES.map((st) => h("option", { value: st }, st)));
  const script = h("input", { name: "script", type: "search", placeholder: "jobs/export.py",
    "data-testid": "filter-script" });
  const q = h("input", { name: "q", type: "search", placeholder: "id or argument",
    "data-testid": "filter-q" });
  const since = h("input", { name: "since", type: "datetime-local", step: "1",
    "data-testid": "filter-since" });
  const until = h("input", { name: "until", type: "datetime-local", step: "1",
    "data-testid": "filter-until" });
  const limit = h("select", { name: "limit", "data-testid": "page-size" },
    PAGE_SIZES.map((n) => h("option", { value: String(n) }, String(n))));
  const form = h("form", { class: "filters", role: "search", "data-testid": "filters",
    onsubmit: (event) => { event.preventDefault(); apply(); } },
  field("Status", status), field("Script", script), field("Search", q),
  field("Started from", since), field("to", until), field("Per page", limit),
  h("div", { class: "filter-buttons" },
    h("button", { type: "submit", class: "primary", "data-testid": "apply-filters" }, "Filter"),
    h("button", { type: "button", "data-testid": "clear-filters",
      onclick: () => { location.hash = "#/"; } }, "Clear")));
  // Choices apply at once; typed text when the typing pauses (or on Enter).
  for (const control of [status, since, until, limit]) control.addEventListener("change", apply);
  let typing = null;
  for (const control of [script, q]) {
    control.addEventListener("input", () => {
      clearTimeout(typing);
      typing = setTimeout(apply, 400);
    });
  }

  const rows = h("tbody", { "data-testid": "run-rows" });
  const table = h("table", { class: "runs", "data-testid": "runs-table" },
    h("thead", {}, h("tr", {}, ["Run", "Status", "Script and arguments", "Started", "Entries",
      "Last activity"].map((title) => h("th", { scope: "col" }, title)))),
    rows);
  const previous = h("button", { type: "button", "data-testid": "prev-page",
    onclick: () => go(-1) }, "← Previous");
  const next = h("button", { type: "button", "data-testid": "next-page",
    onclick: () => go(1) }, "Next page →");
  const where = h("span", { class: "muted", "data-testid": "page-info" });
  const refresh = h("button", { type: "button", "data-testid": "refresh",
    onclick: () => load() }, "Refresh");

  view.append(
    h("section", { class: "card" }, h("div", { class: "card-head" },
      h("h1", {}, "Runs"), refresh), form,
    h("div", { class: "table-wrap" }, table),
    h("nav", { class: "pager", "aria-label": "Pages" }, previous, where, next)));

  // The form shows what the URL says, so a reload or a shared link shows the same list.
  function fill() {
    status.value = params.get("status") || "";
    script.value = params.get("script") || "";
    q.value = params.get("q") || "";
    since.value = params.get("since") || "";
    until.value = params.get("until") || "";
    limit.value = params.get("limit") || String(DEFAULT_LIMIT);
    if (!limit.value) { // a size not offered: offer it
      limit.append(h("option", { value: params.get("limit") }, params.get("limit")));
      limit.value = params.get("limit");
    }
  }

  // The filters from the form into the URL, from the first page.
  function apply() {
    clearTimeout(typing);
    const next = new URLSearchParams();
    for (const [key, control] of Object.entries({ status, script, q, since, until })) {
      if (control.value.trim()) next.set(key, control.value.trim());
    }
    if (limit.value !== String(DEFAULT_LIMIT)) next.set("limit", limit.value);
    setHash(next);
  }

  function setHash(next) {
    const text = next.toString();
    const hash = text ? `#/?${text}` : "#/";
    if (location.hash === hash || (location.hash === "" && hash === "#/")) load();
    else location.hash = hash;
  }

  // The API gives only the next page's cursor: the way back is the cursors before it, kept
  // in the URL (`prev`, comma separated; "-" for the first page).
  function go(step) {
    const next = new URLSearchParams(params);
    const back = params.get("prev") ? params.get("prev").split(",") : [];
    if (step > 0) {
      back.push(params.get("cursor") || "-");
      next.set("prev", back.join(","));
      next.set("cursor", nextCursor);
    } else {
      const cursor = back.pop();
      if (back.length) next.set("prev", back.join(","));
      else next.delete("prev");
      if (cursor && cursor !== "-") next.set("cursor", cursor);
      else next.delete("cursor");
    }
    setHash(next);
  }

  let nextCursor = null;

  async function load() {
    clearTimeout(timer);
    const mine = ++loads;
    const query = new URLSearchParams();
    for (const key of ["status", "script", "q", "cursor"]) {
      if (params.get(key)) query.set(key, params.get(key));
    }
    for (const key of ["since", "until"]) {
      const epoch = toEpoch(params.get(key));
      if (epoch !== null && !Number.isNaN(epoch)) query.set(key, String(epoch));
    }
    const size = Number(params.get("limit") || DEFAULT_LIMIT);
    query.set("limit", String(size));
    table.setAttribute("aria-busy", "true");
    let answer;
    try {
      answer = await api("GET", `/runs?${query}`);
    } catch (error) {
      if (mine === loads && !stopped) {
        showError(error);
        table.removeAttribute("aria-busy");
      }
      return;
    }
    if (mine !== loads || stopped) return;
    table.removeAttribute("aria-busy");
    nextCursor = answer.next_cursor;
    rows.replaceChildren(...answer.runs.map(runRow));
    if (!answer.runs.length) {
      const filtered = ["status", "script", "q", "since", "until"].some((k) => params.get(k));
      rows.append(h("tr", { class: "empty" }, h("td", { colspan: 6 }, filtered
        ? "No runs match these filters."
        : "No runs yet. Start one with POST /runs, a webhook, a schedule or a file.")));
    }
    const pageIndex = params.get("prev") ? params.get("prev").split(",").length : 0;
    const first = pageIndex * size + 1;
    where.textContent = answer.runs.length
      ? `Page ${pageIndex + 1} · runs ${first}–${first + answer.runs.length - 1}`
      : `Page ${pageIndex + 1}`;
    previous.disabled = pageIndex === 0;
    next.disabled = !nextCursor;
    // Rows of live runs change under the eyes: read the page again while there are some.
    if (answer.runs.some((run) => ["queued", "new", "running"].includes(run.status))) {
      timer = setTimeout(load, LIST_POLL_MS);
    }
  }

  function update(nextParams) {
    params = nextParams;
    sessionStorage.setItem(LIST_KEY, location.hash);
    fill();
    load();
  }

  update(initial);
  return {
    kind: "list",
    update,
    stop() {
      stopped = true;
      clearTimeout(timer);
      clearTimeout(typing);
    },
  };
}

function runRow(run) {
  const waiting = run.waiting_for ? `waits for ${run.waiting_for}`
    : run.wake_at ? `until ${shortTime(run.wake_at)}` : "";
  return h("tr", { "data-testid": "run-row", "data-run-id": run.run_id,
    "data-status": run.status },
  h("td", {}, h("a", { href: `#${runPath(run.run_id)}`, class: "run-id",
    "data-testid": "run-link" }, run.run_id)),
  h("td", {}, statusBadge(run.status, "run-status"),
    waiting && run.status === "suspended" ? h("div", { class: "small muted" }, waiting) : null,
    run.error && !FINAL.has(run.status) ? h("div", { class: "small error-text clip-line",
      title: run.error }, run.error) : null),
  h("td", { class: "command", title: commandLine(run) }, h("code", {}, commandLine(run))),
  h("td", {}, timeCell(run.started)),
  h("td", { class: "number" }, String(run.entries)),
  h("td", {}, timeCell(run.last_activity)));
}

// ----- the run page ---------------------------------------------------------------------------

function runPage(id) {
  let stopped = false;
  let timer = null;
  let run = null;
  let journal = [];
  let journalKey = ""; // what the drawn journal was, to redraw only when it changed
  let nameTouched = false; // the event name follows what the run waits for until edited
  document.title = `${id} · durable-python`;

  const back = h("a", { href: sessionStorage.getItem(LIST_KEY) || "#/", class: "back",
    "data-testid": "back" }, "← Runs");
  const title = h("h1", { class: "run-title" }, h("code", { "data-testid": "run-id" }, id));
  const badge = h("span", { "data-testid": "run-status-slot" });
  const facts = h("dl", { class: "facts", "data-testid": "run-facts" });

  // Actions.
  const resume = h("button", { type: "button", "data-testid": "resume", onclick: onResume,
    title: "Resume a suspended, crashed or failed run now" }, "Resume now");
  const cancel = h("button", { type: "button", class: "danger", "data-testid": "cancel",
    onclick: onCancel }, "Cancel run");
  const replay = h("button", { type: "button", "data-testid": "replay", onclick: onReplay,
    title: "Replay the journal against the script as it is now, executing nothing" },
  "Replay against current code");
  const eventName = h("input", { id: "event-name", name: "name", required: true,
    autocomplete: "off", "data-testid": "event-name",
    oninput: () => { nameTouched = true; } });
  const eventKey = h("input", { id: "event-key", name: "key", autocomplete: "off",
    placeholder: "optional", "data-testid": "event-key" });
  const payload = h("textarea", { id: "event-payload", name: "payload", rows: 4,
    spellcheck: "false", "data-testid": "event-payload", value: "{}" });
  const payloadError = h("p", { class: "field-error", "data-testid": "event-error", hidden: true });
  const eventSend = h("button", { type: "submit", class: "primary", "data-testid": "event-send" },
    "Send event");
  const eventResult = h("p", { class: "small", "data-testid": "event-result", "aria-live": "polite" });
  const eventForm = h("form", { class: "event-form", "data-testid": "event-form",
    onsubmit: onSendEvent },
  h("h3", {}, "Send an event"),
  h("div", { class: "row2" },
    h("label", { class: "field" }, h("span", {}, "Name"), eventName),
    h("label", { class: "field" }, h("span", {}, "Idempotency key"), eventKey)),
  h("label", { class: "field" }, h("span", {}, "Payload (JSON)"), payload),
  payloadError, h("div", { class: "buttons" }, eventSend), eventResult);
  const verdict = h("div", { class: "verdict", "data-testid": "verdict", hidden: true });

  // Timeline, journal, source, output.
  const timeline = h("div", { class: "timeline", "data-testid": "timeline-box" });
  const journalBody = h("tbody", { "data-testid": "journal-rows" });
  const journalCount = h("span", { class: "muted small", "data-testid": "journal-count" });
  const source = h("div", { class: "source", "data-testid": "source" });
  const sourceTitle = h("span", { class: "muted small" });
  const output = h("pre", { class: "output", "data-testid": "output" });

  view.append(
    h("div", { class: "crumbs" }, back),
    h("section", { class: "card run-head" },
      h("div", { class: "card-head" }, title, badge), facts),
    h("section", { class: "card actions", "aria-label": "Actions" },
      h("div", { class: "buttons" }, resume, cancel, replay), eventForm),
    verdict,
    h("section", { class: "card" }, h("div", { class: "card-head" }, h("h2", {}, "Timeline")),
      timeline, legend()),
    h("section", { class: "card" },
      h("div", { class: "card-head" }, h("h2", {}, "Journal"), journalCount),
      h("div", { class: "table-wrap" }, h("table", { class: "journal", "data-testid": "journal" },
        h("thead", {}, h("tr", {}, ["Entry", "Attempt", "Policy", "Call", "Where", "At",
          "Result", "Exception", "Duration", ""].map((t) => h("th", { scope: "col" }, t)))),
        journalBody))),
    h("div", { class: "split" },
      h("section", { class: "card" },
        h("div", { class: "card-head" }, h("h2", {}, "Source"), sourceTitle), source),
      h("section", { class: "card" }, h("div", { class: "card-head" }, h("h2", {}, "Output")),
        output)));

  let resized = null;
  const onResize = () => {
    clearTimeout(resized);
    resized = setTimeout(() => run && drawTimeline(), 150);
  };
  window.addEventListener("resize", onResize);

  // Read the run and its journal; again every second while it is not final.
  let refreshes = 0; // only the newest read goes on polling (an action reads too)
  async function refresh() {
    clearTimeout(timer);
    const mine = ++refreshes;
    let answers;
    try {
      answers = await Promise.all([api("GET", runPath(id)), api("GET", `${runPath(id)}/journal`)]);
    } catch (error) {
      if (stopped || mine !== refreshes) return;
      if (error.status === 404) {
        view.replaceChildren(h("div", { class: "crumbs" }, back), h("section", { class: "card" },
          h("h1", {}, "No such run"), h("p", { "data-testid": "not-found" },
            `The store has no run ${id}.`)));
        return;
      }
      showError(error);
      timer = setTimeout(refresh, POLL_MS * 3); // the server may be back soon
      return;
    }
    if (stopped || mine !== refreshes) return;
    [run, journal] = answers;
    drawHead();
    const key = `${journal.length}:${journal.map((e) => e.ended).join(",")}`;
    const changed = key !== journalKey;
    journalKey = key;
    if (changed) drawJournal();
    drawTimeline(); // a waiting run's open wait grows with the clock
    if (changed || !source.childElementCount) loadSource();
    if (!FINAL.has(run.status)) timer = setTimeout(refresh, document.hidden ? 5000 : POLL_MS);
  }

  function drawHead() {
    badge.replaceChildren(statusBadge(run.status, "run-status"));
    const final = FINAL.has(run.status);
    const fact = (key, label, value) => (value === null || value === undefined || value === ""
      ? null
      : [h("dt", {}, label), h("dd", { "data-testid": `fact-${key}` }, value)]);
    facts.replaceChildren(...[
      fact("script", "Script", h("code", {}, run.script)),
      fact("args", "Arguments", run.args.length ? h("code", {}, run.args.map(shellWord).join(" "))
        : h("span", { class: "muted" }, "none")),
      fact("started", "Started", fullTime(run.started)),
      fact("ended", "Ended", final ? `${fullTime(run.updated)} (after ${duration(run.updated -
        run.started)})` : null),
      // A suspended run's 75 is how its last process ended, not how the run did.
      fact("exit-code", "Exit code", run.exit_code === null || run.status === "suspended" ? null
        : String(run.exit_code)),
      fact("error", "Error", run.error ? h("span", { class: "error-text" }, run.error) : null),
      fact("waiting-for", "Waits for", run.waiting_for ? `event “${run.waiting_for}”` : null),
      fact("wake-at", "Until", run.wake_at ? fullTime(run.wake_at) : null),
      fact("entries", "Entries", String(run.entries)),
      fact("last-activity", "Last activity", fullTime(run.last_activity)),
      fact("trigger", "Started by", run.trigger ? run.trigger.kind || JSON.stringify(run.trigger)
        : null),
      fact("queue", "Queue", run.queue),
      fact("note", "Note", run.note),
    ].filter(Boolean).flat());
    cancel.disabled = final;
    resume.disabled = !["suspended", "crashed", "failed"].includes(run.status);
    for (const control of [eventName, eventKey, payload, eventSend]) control.disabled = final;
    if (!nameTouched && run.waiting_for && eventName.value !== run.waiting_for) {
      eventName.value = run.waiting_for;
    }
    output.replaceChildren(run.output_tail.length ? run.output_tail.join("\n")
      : h("span", { class: "muted" }, "No output yet."));
  }

  function drawJournal() {
    journalCount.textContent = `${journal.length} entries`;
    if (!journal.length) {
      journalBody.replaceChildren(h("tr", { class: "empty" }, h("td", { colspan: 10 },
        "No entries yet.")));
      return;
    }
    const t0 = startOf(run, journal);
    journalBody.replaceChildren(...journal.map((entry) => h("tr", {
      "data-testid": "journal-row", "data-task": entry.task, "data-seq": entry.seq,
      "data-attempt": entry.attempt, "data-policy": entry.policy, "data-outcome": entry.outcome,
      id: `entry-${entry.task}-${entry.seq}-${entry.attempt}`,
      class: entry.error ? "failed" : "" },
    h("td", { "data-col": "position" }, h("code", {}, position(entry))),
    h("td", { "data-col": "attempt", class: "number" },
      entry.attempt ? `retry ${entry.attempt}` : ""),
    h("td", { "data-col": "policy" }, h("span", { class: `chip policy-${entry.policy}` },
      entry.policy)),
    // `arguments` (short renderings, one per argument) where the API gives them.
    h("td", { "data-col": "call" }, h("code", { class: "call-name" }, entry.name),
      Array.isArray(entry.arguments) ? h("code", { class: "call-args muted",
        "data-testid": "call-args", title: entry.arguments.join(", ") },
      `(${entry.arguments.join(", ")})`) : null),
    h("td", { "data-col": "site", title: entry.site }, shortSite(entry.site)),
    h("td", { "data-col": "at", class: "number" }, `+${duration(entry.started - t0)}`),
    h("td", { "data-col": "result", class: "clip", title: entry.summary }, entry.error ? ""
      : entry.summary),
    h("td", { "data-col": "error", class: "clip error-text", title: entry.error || "" },
      entry.error || ""),
    h("td", { "data-col": "duration", class: "number" }, duration(entry.ended - entry.started)),
    h("td", {}, h("button", { type: "button", class: "small-button", "data-testid": "fork",
      title: `A new run that keeps the entries before ${position(entry)} and goes on live`,
      onclick: (event) => onFork(entry, event.currentTarget) }, "Fork")))));
  }

  function drawTimeline() {
    timeline.replaceChildren(timelineSvg(run, journal, timeline.clientWidth || 900, (entry) => {
      const row = document.getElementById(`entry-${entry.task}-${entry.seq}-${entry.attempt}`);
      if (!row) return;
      row.scrollIntoView({ block: "center", behavior: "smooth" });
      row.classList.remove("flash");
      void row.offsetWidth; // restart the animation
      row.classList.add("flash");
    }));
  }

  let sources = 0;
  async function loadSource() {
    const mine = ++sources;
    let answer;
    try {
      answer = await api("GET", `${runPath(id)}/source`);
    } catch (error) {
      if (stopped || mine !== sources) return;
      source.replaceChildren(h("p", { class: "muted", "data-testid": "source-missing" },
        error.status === 404 ? error.message : "The source could not be read."));
      if (error.status !== 404) showError(error);
      return;
    }
    if (stopped || mine !== sources) return;
    sourceTitle.textContent = answer.path;
    const scrolled = source.querySelector(".code")?.scrollTop;
    const lines = answer.text.replace(/\n$/, "").split("\n");
    const code = h("div", { class: "code", role: "list" }, lines.map((text, index) => {
      const number = index + 1;
      const at = answer.lines[String(number)] || [];
      const frontier = answer.frontier === number;
      return h("div", { role: "listitem",
        class: `line${at.length ? " has-entries" : ""}${frontier ? " frontier" : ""}`,
        "data-testid": "source-line", "data-line": number, "data-entries": at.join(" "),
        "data-frontier": frontier ? "true" : null },
      h("span", { class: "ln", "aria-hidden": "true" }, String(number)),
      h("code", {}, text || " "),
      at.length || frontier ? h("span", { class: "marks" },
        frontier ? h("span", { class: "frontier-mark", "data-testid": "source-frontier" },
          "▶ frontier") : null,
        at.length ? h("span", { class: "entry-mark", title: at.join(" ") }, shortList(at))
          : null) : null);
    }));
    source.replaceChildren(...[
      answer.changed ? h("p", { class: "notice", "data-testid": "source-changed" },
        "The script was edited since this run last executed: lines and marks may not match. "
        + "Replay it to see whether the journal still fits.") : null,
      code].filter(Boolean));
    if (scrolled !== undefined) code.scrollTop = scrolled;
    else { // first sight: the frontier in view, within the panel only
      const line = code.querySelector(".frontier");
      if (line) code.scrollTop = Math.max(0, line.offsetTop - code.clientHeight / 2);
    }
  }

  // ----- actions: each says what the API answered, success or not ----------------------------

  // Run an action with its button disabled meanwhile, then read the run again (which enables
  // again the buttons that fit its status).
  async function act(button, work) {
    button.disabled = true;
    try {
      await work();
    } catch (error) {
      showError(error);
    } finally {
      button.disabled = false;
      if (!stopped) await refresh();
    }
  }

  function onResume() {
    act(resume, async () => {
      await api("POST", `${runPath(id)}/resume`);
      showMessage(`Run ${id} is resumed.`, "info");
    });
  }

  function onCancel() {
    if (!window.confirm(`Cancel run ${id}? A live run gets Cancelled raised at its next call.`)) {
      return;
    }
    act(cancel, async () => {
      const answer = await api("POST", `${runPath(id)}/cancel`);
      showMessage(answer.outcome === "requested"
        ? `Cancel requested: run ${id} stops at its next recorded call.`
        : `Run ${id} is ${answer.status}.`, "info");
    });
  }

  function onReplay() {
    verdict.hidden = false;
    verdict.replaceChildren(h("section", { class: "card" }, h("p", { class: "muted" },
      "Replaying against the script as it is now…")));
    act(replay, async () => {
      try {
        drawVerdict(await api("POST", `${runPath(id)}/replay`));
        loadSource(); // the replay was against the script as it is now: show that one
      } catch (error) {
        verdict.hidden = true;
        throw error;
      }
    });
  }

  function drawVerdict(answer) {
    const d = answer.divergence;
    verdict.dataset.status = answer.status;
    verdict.replaceChildren(h("section", { class: `card verdict-${answer.status}` },
      h("div", { class: "card-head" }, h("h2", {}, "Replay against current code"),
        h("span", { class: `badge verdict-badge verdict-${answer.status}`,
          "data-testid": "verdict-status" }, answer.status),
        h("button", { type: "button", class: "close", "aria-label": "Close the verdict",
          onclick: () => { verdict.hidden = true; } }, "×")),
      h("p", { "data-testid": "verdict-summary" }, answer.summary),
      h("p", { class: "muted small" }, `${answer.replayed} of ${answer.total} entries replayed`
        + (answer.frontier ? `; frontier ${answer.frontier}` : "")),
      d ? h("div", { class: "divergence", "data-testid": "divergence",
        "data-position": `${d.task}/${d.seq}`, "data-site": d.site },
        h("div", { class: "side-by-side" },
          h("div", {}, h("h3", {}, "Recorded"), h("pre", { "data-testid": "divergence-recorded" },
            d.recorded)),
          h("div", {}, h("h3", {}, "Attempted now"),
            h("pre", { "data-testid": "divergence-attempted" }, d.attempted))),
        d.argument_diff && d.argument_diff.length ? h("ul", { class: "argdiff",
          "data-testid": "argument-diff" }, d.argument_diff.map((line) => h("li", {},
          h("code", {}, line)))) : null) : null,
      // Without a divergence to show, the detail is what explains a verdict that is not clean.
      answer.detail ? h("details", { open: !d && answer.status !== "clean" },
        h("summary", {}, "Details"),
        h("pre", { "data-testid": "verdict-detail" }, answer.detail)) : null));
  }

  async function onSendEvent(event) {
    event.preventDefault();
    const text = payload.value.trim();
    try {
      JSON.parse(text || "null");
    } catch (error) {
      payloadError.textContent = `The payload is not JSON: ${error.message}`;
      payloadError.hidden = false;
      payload.setAttribute("aria-invalid", "true");
      payload.focus();
      return;
    }
    payloadError.hidden = true;
    payload.removeAttribute("aria-invalid");
    eventResult.textContent = "";
    const name = eventName.value.trim();
    act(eventSend, async () => {
      const path = `${runPath(id)}/events/${encodeURIComponent(name)}`;
      const key = eventKey.value.trim();
      const answer = await api("POST", path, text || "null",
        key ? { "Idempotency-Key": key } : {});
      eventResult.textContent = answer.new
        ? `Sent “${answer.event}” (event id ${answer.event_id}).`
        : `Already sent before as ${answer.event_id}: kept once.`;
    });
  }

  function onFork(entry, button) {
    if (!window.confirm(`Fork run ${id} at ${position(entry)}? The new run replays the entries`
      + " before it and executes the rest live.")) return;
    act(button, async () => {
      const answer = await api("POST", `${runPath(id)}/fork`, { at: position(entry) });
      showMessage(`Forked ${id} at ${position(entry)}: run ${answer.run_id}.`, "info");
      location.hash = `#${runPath(answer.run_id)}`;
    });
  }

  refresh();
  return {
    kind: "run",
    stop() {
      stopped = true;
      clearTimeout(timer);
      window.removeEventListener("resize", onResize);
    },
  };
}

function shortList(positions) {
  return positions.length <= 4 ? positions.join(" ")
    : `${positions[0]} ${positions[1]} … ${positions[positions.length - 1]} (${positions.length})`;
}

// ----- the timeline ---------------------------------------------------------------------------

// Where the time axis starts: the run's start, or earlier for a fork (its first entries were
// copied from the run it was forked from, with their times).
function startOf(run, journal) {
  return Math.min(run.started, ...journal.map((e) => e.started));
}

// The span an entry covers: a timer's is until it was due (its value); an event's until it
// arrived, from the end of the task's call before it (a run that suspended to wait records the
// event's entry only when it is resumed); other calls from start to end.
function spanOf(entry, journal) {
  if (entry.policy === "timer" && typeof entry.value === "number") {
    return [entry.started, Math.max(entry.value, entry.ended), "timer"];
  }
  if (entry.policy === "event") {
    const before = journal.filter((e) => e.task === entry.task && e.seq < entry.seq);
    const from = Math.max(...before.map((e) => e.ended));
    return [Number.isFinite(from) && from < entry.started ? from : entry.started, entry.ended,
      "event"];
  }
  return [entry.started, entry.ended, null];
}

function niceStep(span, ticks) {
  const steps = [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60,
    120, 300, 600, 900, 1800, 3600, 7200, 21600, 43200, 86400, 172800, 604800];
  return steps.find((step) => span / step <= ticks) || span / ticks;
}

function axisLabel(seconds) {
  if (seconds === 0) return "0";
  if (seconds < 1) return `${Math.round(seconds * 1000)} ms`;
  if (seconds < 60) return `${+seconds.toFixed(2)} s`;
  if (seconds < 3600) return `${+(seconds / 60).toFixed(1)} min`;
  if (seconds < 86400) return `${+(seconds / 3600).toFixed(1)} h`;
  return `${+(seconds / 86400).toFixed(1)} d`;
}

// One row per task path, x = seconds since the run started, a bar per entry.
function timelineSvg(run, journal, width, onPick) {
  const final = FINAL.has(run.status);
  const now = Date.now() / 1000;
  const t0 = startOf(run, journal);
  const tasks = [...new Set(["main", ...journal.map((e) => e.task)])];
  // An open wait: the run waits now (suspended, or a wait in its process) with no entry for it.
  // (A timer's wait has its entry already; an event's is recorded only once it came.)
  const timerDrawn = journal.some((e) => e.policy === "timer" && e.value === run.wake_at);
  const main = journal.filter((e) => e.task === "main");
  const open = !final && (run.waiting_for || (run.wake_at && !timerDrawn))
    ? { from: Math.max(t0, ...main.map((e) => e.ended)), to: run.wake_at || now } : null;
  // The axis ends now (a live run) or when the run ended; a wait due far later is cut at twice
  // the time so far, so that a day's sleep does not squash the rest into a line.
  const lastEnd = Math.max(final ? run.updated : now, ...journal.map((e) => e.ended));
  const cut = final ? lastEnd : lastEnd + Math.max(lastEnd - t0, 1);
  const dues = [...journal.map((e) => spanOf(e, journal)[1]), open ? open.to : lastEnd];
  const t1 = Math.max(lastEnd, Math.min(cut, Math.max(...dues)));
  const span = Math.max(t1 - t0, 0.001);

  const gutter = 120; // task labels
  const right = 16;
  const rowHeight = 30;
  const top = 26; // the axis labels
  const plot = Math.max(width - gutter - right, 200);
  const height = top + tasks.length * rowHeight + 8;
  const x = (t) => gutter + ((Math.min(t, t1) - t0) / span) * plot;
  const rowOf = (task) => top + tasks.indexOf(task) * rowHeight;

  const svg = s("svg", { width, height, viewBox: `0 0 ${width} ${height}`, role: "img",
    "aria-label": `Timeline of ${journal.length} entries over ${duration(span)}`,
    "data-testid": "timeline", class: "timeline-svg" },
  s("defs", {}, s("pattern", { id: "hatch", width: 6, height: 6, patternUnits: "userSpaceOnUse",
    patternTransform: "rotate(45)" }, s("rect", { width: 3, height: 6, class: "hatch" }))));

  // Axis: nice ticks and light grid lines.
  const step = niceStep(span, Math.max(2, Math.floor(plot / 110)));
  const grid = s("g", { class: "axis" });
  for (let t = 0; t <= span + 1e-9; t += step) {
    const px = gutter + (t / span) * plot;
    grid.append(s("line", { x1: px, x2: px, y1: top - 6, y2: height - 4, class: "grid" }),
      s("text", { x: px, y: 14, "text-anchor": t === 0 ? "start" : "middle" }, axisLabel(t)));
  }
  svg.append(grid);

  for (const task of tasks) {
    const y = rowOf(task);
    svg.append(s("rect", { x: 0, y, width, height: rowHeight, class: "lane" }),
      s("text", { x: 8, y: y + rowHeight / 2 + 4, class: "task-label",
        "data-testid": "timeline-task" }, task));
  }

  for (const entry of journal) {
    const [from, to, wait] = spanOf(entry, journal);
    const y = rowOf(entry.task) + 8;
    const left = x(from);
    const barWidth = Math.max(x(to) - left, 4); // an instant call stays visible
    const classes = [`bar`, `policy-${entry.policy}`];
    if (wait) classes.push("wait");
    if (entry.attempt > 0) classes.push("retry");
    if (entry.error) classes.push("failed");
    const tip = `${position(entry)} ${entry.name}` +
      (entry.attempt ? ` (retry ${entry.attempt})` : "") +
      `\n${entry.summary}\n+${duration(from - t0)}, ${wait ? "waited" : "took"} ` +
      `${duration(to - from)} at ${shortSite(entry.site)}`;
    const group = s("g", { class: classes.join(" "), "data-testid": "timeline-bar",
      "data-task": entry.task, "data-seq": entry.seq, "data-attempt": entry.attempt,
      "data-policy": entry.policy, "data-wait": wait, "data-retry": entry.attempt > 0 || null,
      "data-failed": entry.error ? "true" : null, tabindex: 0,
      onclick: () => onPick(entry), onkeydown: (event) => event.key === "Enter" && onPick(entry) },
    s("title", {}, tip),
    s("rect", { x: left, y, width: barWidth, height: 14, rx: 2, class: "fill" }));
    if (entry.attempt > 0) {
      group.append(s("rect", { x: left, y, width: barWidth, height: 14, rx: 2,
        fill: "url(#hatch)", class: "hatched" }),
      s("text", { x: left + barWidth / 2, y: y - 2, "text-anchor": "middle",
        class: "attempt-label", "data-testid": "attempt-label" }, `retry ${entry.attempt}`));
    }
    svg.append(group);
  }

  if (open) {
    const y = rowOf("main") + 8;
    const left = x(open.from);
    const what = run.waiting_for ? `waiting for “${run.waiting_for}”` : "sleeping";
    const until = run.wake_at ? ` until ${fullTime(run.wake_at)}` : "";
    svg.append(s("g", { class: "bar wait open", "data-testid": "timeline-pending" },
      s("title", {}, `${what}${until}`),
      s("rect", { x: left, y, width: Math.max(x(open.to) - left, 4), height: 14, rx: 2,
        class: "fill" }),
      s("text", { x: Math.min(left + 6, gutter + plot - 100), y: y + 11, class: "open-label" },
        what)));
  }
  return svg;
}

function legend() {
  const item = (cls, label) => h("li", {}, h("span", { class: `swatch ${cls}` }), label);
  return h("ul", { class: "legend", "data-testid": "timeline-legend" },
    POLICIES.map((policy) => item(`policy-${policy}`, policy)),
    item("wait-swatch", "wait (timer until due, event until it came)"),
    item("retry-swatch", "retry"),
    item("failed-swatch", "raised"));
}

route();
