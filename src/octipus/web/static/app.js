// Octipus Hooks web UI: every page is a static shell; this script calls the JSON API with the
// bearer token kept in localStorage and renders the answers. API data only ever goes into the
// page through textContent, never as HTML.
"use strict";

const TOKEN_KEY = "octipus.token";
const FLASH_KEY = "octipus.flash";
const FINAL = new Set(["success", "error", "skipped", "cancelled"]);
const PAGE_SIZE = 50;

const $ = (selector, root = document) => root.querySelector(selector);
const $$ = (selector, root = document) => [...root.querySelectorAll(selector)];
const body = document.body.dataset;

// ---- DOM helpers -------------------------------------------------------------------------

function h(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") node.className = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (key in node && typeof value !== "string") node[key] = value;
    else node.setAttribute(key, value === true ? "" : value);
  }
  node.append(...children.flat(Infinity).filter((c) => c !== undefined && c !== null && c !== false));
  return node;
}

function showAlert(message, kind = "error", where = $("#alert")) {
  where.textContent = message;
  where.className = `alert ${kind}`;
  where.hidden = false;
  if (where.id === "alert") where.scrollIntoView({ block: "nearest" });
}

function clearAlert(where = $("#alert")) {
  where.hidden = true;
  where.textContent = "";
}

// A message to show on the next page (after a redirect).
function flashNext(message, kind = "success") {
  sessionStorage.setItem(FLASH_KEY, JSON.stringify({ message, kind }));
}

function showFlash() {
  const flash = JSON.parse(sessionStorage.getItem(FLASH_KEY) || "null");
  sessionStorage.removeItem(FLASH_KEY);
  if (flash) showAlert(flash.message, flash.kind);
}

const json = (value) => JSON.stringify(value, null, 2);
const when = (iso) => (iso ? new Date(iso).toLocaleString() : "—");
const badge = (status) => h("span", { class: `badge ${status}` }, status);

function duration(ms) {
  if (ms === null || ms === undefined) return "—";
  return ms < 1000 ? `${ms} ms` : `${(ms / 1000).toFixed(1)} s`;
}

function webhookUrl(path) {
  return `${body.webhookBase}/api/webhooks/${path}`;
}

// Standard Webhooks/Svix keys are `whsec_` + base64; others 40 hex digits like `openssl rand -hex 20`.
function randomSecret(provider) {
  const standard = provider === "standard" || provider === "svix";
  const bytes = crypto.getRandomValues(new Uint8Array(standard ? 24 : 20));
  if (standard) return `whsec_${btoa(String.fromCharCode(...bytes))}`;
  return [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
}

// ---- API ---------------------------------------------------------------------------------

async function api(method, path, payload, token = localStorage.getItem(TOKEN_KEY)) {
  const headers = { Authorization: `Bearer ${token}` };
  if (payload !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(path, {
      method,
      headers,
      body: payload === undefined ? undefined : JSON.stringify(payload),
    });
  } catch (err) {
    throw new Error(`Cannot reach the server: ${err.message}`);
  }
  const data = await response.json().catch(() => ({}));
  if (response.status === 401 && body.page !== "login") {
    localStorage.removeItem(TOKEN_KEY);
    flashNext(data.error || "Your token is no longer valid; sign in again.", "error");
    goToLogin();
  }
  if (!response.ok) throw new Error(data.error || `${response.status} ${response.statusText}`);
  return data;
}

function goToLogin() {
  const next = location.pathname + location.search;
  location.replace(`/ui/login?next=${encodeURIComponent(next)}`);
}

// Run an API action; show its error (the server's message, verbatim) instead of throwing.
async function attempt(action, where) {
  try {
    return await action();
  } catch (err) {
    showAlert(err.message, "error", where);
    return undefined;
  }
}

// ---- Sign in -----------------------------------------------------------------------------

function loginPage() {
  showFlash();
  $("#login-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    clearAlert();
    const token = $("#token").value.trim();
    const ok = await attempt(() => api("GET", "/api/hooks", undefined, token));
    if (!ok) return;
    localStorage.setItem(TOKEN_KEY, token);
    const next = new URLSearchParams(location.search).get("next") || "";
    location.assign(next.startsWith("/ui/") ? next : "/ui/hooks");
  });
}

// ---- Hooks list --------------------------------------------------------------------------

async function hooksPage() {
  showFlash();
  const data = await attempt(() => api("GET", "/api/hooks"));
  if (!data) return;
  $("#hooks-empty").hidden = data.hooks.length > 0;
  $("#hooks-table").hidden = data.hooks.length === 0;
  $("#hooks-table tbody").replaceChildren(...data.hooks.map(hookRow));
  setUpTestDialog();
}

function hookRow(hook) {
  const path = hook.triggerConfig.webhookPath;
  const url = webhookUrl(path);
  const toggle = h("input", {
    type: "checkbox",
    role: "switch",
    checked: hook.isEnabled,
    "aria-label": `Enabled: ${hook.name}`,
    onchange: async (event) => {
      const wanted = event.target.checked;
      const done = await attempt(() => api("POST", `/api/hooks/${hook.id}/toggle`, { enabled: wanted }));
      event.target.checked = done ? done.enabled : !wanted;
    },
  });
  const remove = async () => {
    if (!confirm(`Delete the hook "${hook.name}"? Its execution log is deleted with it.`)) return;
    if (await attempt(() => api("DELETE", `/api/hooks/${hook.id}`))) {
      row.remove();
      showAlert(`Deleted "${hook.name}".`, "success");
    }
  };
  const row = h(
    "tr",
    { "data-hook-id": hook.id },
    h("td", {}, h("a", { href: `/ui/hooks/${hook.id}` }, hook.name),
      hook.description ? h("div", { class: "muted" }, hook.description) : null),
    h("td", {}, h("code", { class: "url" }, url), " ",
      h("button", { type: "button", class: "link", "aria-label": `Copy webhook URL of ${hook.name}`,
        onclick: (event) => copyText(url, event.target) }, "Copy"),
      h("div", { class: "muted" }, describeTrigger(hook.triggerConfig))),
    h("td", {}, hook.action),
    h("td", {}, toggle),
    h("td", {}, h("a", { href: `/ui/hooks/${hook.id}/executions`,
      "aria-label": `Execution log of ${hook.name}` }, String(hook.executionCount))),
    hook.pausedReason
      ? h("td", { class: "error-text" }, pausedNote(hook))
      : hook.lastError || !hook.lastWarning
        ? h("td", { class: "error-text" }, hook.lastError || "")
        : h("td", { class: "warning-text" }, hook.lastWarning),
    h("td", {}, h("div", { class: "commands" },
      h("button", { type: "button", onclick: () => openTestDialog(hook) }, "Send test"),
      h("a", { class: "button", href: `/ui/rejections?path=${encodeURIComponent(path)}` }, "Rejections"),
      h("button", { type: "button", class: "danger", "aria-label": `Delete ${hook.name}`, onclick: remove }, "Delete"))),
  );
  return row;
}

// An auto-paused hook: why, and the one click that resumes it and runs what it held.
function pausedNote(hook) {
  const resume = async (event) => {
    const row = event.target.closest("tr");
    const answer = await attempt(() => api("POST", `/api/hooks/${hook.id}/resume`));
    if (!answer) return;
    showAlert(`Resumed "${hook.name}"; ${answer.requeued} held deliveries queued.`, "success");
    row.replaceWith(hookRow(answer.hook));
  };
  return h("div", { class: "paused" },
    h("strong", {}, "Paused: "), hook.pausedReason, " ",
    h("button", { type: "button", "aria-label": `Resume ${hook.name}`, onclick: resume }, "Resume"),
    hook.lastError ? h("div", {}, hook.lastError) : null);
}

function describeTrigger(config) {
  const parts = [config.provider && config.provider !== "auto" ? config.provider : "auto-detect"];
  if (config.events && config.events.length) parts.push(`events: ${config.events.join(", ")}`);
  if (!config.webhookSecret) parts.push("no secret: every delivery is refused");
  return parts.join(" · ");
}

async function copyText(text, button) {
  try {
    await navigator.clipboard.writeText(text);
    button.textContent = "Copied";
  } catch {
    window.prompt("Copy the webhook URL:", text);
  }
}

let testHook = null;

function setUpTestDialog() {
  const dialog = $("#test-dialog");
  $("#test-close").addEventListener("click", () => dialog.close());
  $("#test-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const error = $("#test-error");
    clearAlert(error);
    let data;
    try {
      data = JSON.parse($("#test-data").value || "{}");
    } catch (err) {
      showAlert(`Payload is not valid JSON: ${err.message}`, "error", error);
      return;
    }
    const eventType = $("#test-event").value.trim();
    const request = { data, ...(eventType ? { headers: { "X-GitHub-Event": eventType } } : {}) };
    const answer = await attempt(() => api("POST", `/api/hooks/${testHook.id}/test`, request), error);
    if (!answer) return;
    $("#test-results").replaceChildren(...answer.results.map(testResult));
    $("#test-output").hidden = false;
  });
}

function testResult(execution) {
  return h("div", { class: "test-result" },
    h("p", {}, badge(execution.status), ` ${execution.actionType} · ${duration(execution.durationMs)} · `,
      h("a", { href: `/ui/hooks/${execution.hookId}/executions` }, "Execution Log")),
    execution.error ? h("pre", { class: "error-text" }, execution.error) : null,
    h("pre", {}, json(execution.result)));
}

function openTestDialog(hook) {
  testHook = hook;
  $("#test-title").textContent = `Send test: ${hook.name}`;
  clearAlert($("#test-error"));
  $("#test-output").hidden = true;
  $("#test-dialog").showModal();
}

// ---- Hook form ---------------------------------------------------------------------------

let loadedHook = null;

async function hookFormPage() {
  $("#webhookPath").addEventListener("input", () => {
    $("#url-preview").textContent = webhookUrl($("#webhookPath").value.replace(/^\/+|\/+$/g, ""));
  });
  $("#generate-secret").addEventListener("click", () => {
    $("#webhookSecret").value = randomSecret($("#provider").value);
  });
  $("#provider").addEventListener("change", showProviderOptions);
  $("#actionType").addEventListener("change", showActionFields);
  $("#config-as-json").addEventListener("change", switchConfigEditor);
  $("#add-condition").addEventListener("click", () => $('[data-part="field"]', addCondition()).focus());
  $("#hook-form").addEventListener("submit", saveHook);

  if (body.hookId) {
    const data = await attempt(() => api("GET", `/api/hooks/${body.hookId}`));
    if (!data) return;
    loadedHook = data.hook;
    fillHookForm(loadedHook);
    $("#delete-hook").addEventListener("click", deleteLoadedHook);
  }
  showProviderOptions();
  showActionFields();
}

function fillHookForm(hook) {
  const trigger = hook.triggerConfig;
  $("#name").value = hook.name;
  $("#description").value = hook.description || "";
  $("#isEnabled").checked = hook.isEnabled;
  $("#concurrency").value = hook.concurrency ?? "";
  $("#autoPauseAfter").value = hook.autoPauseAfter ?? "";
  if (hook.pausedReason) {
    $("#paused-note").textContent = `Paused: ${hook.pausedReason}. Enabling it resumes it and runs the held deliveries.`;
    $("#paused-note").hidden = false;
  }
  $("#webhookPath").value = trigger.webhookPath;
  $("#webhookPath").dispatchEvent(new Event("input"));
  writeSecretField($("#webhookSecret"), trigger.webhookSecret);
  if (!trigger.webhookSecret) $("#webhookSecret").placeholder = "none set: every delivery is refused until you set one";
  $("#provider").value = trigger.provider || "auto";
  for (const key of ["signatureHeader", "algorithm", "encoding", "prefix"]) {
    if (trigger[key]) $(`#${key}`).value = trigger[key];
  }
  $("#events").value = (trigger.events || []).join(", ");
  $("#actionType").value = hook.action;
  writeActionFields(hook.action, hook.actionConfig);
  for (const condition of hook.conditions || []) addCondition(condition);
}

function showProviderOptions() {
  $("#hmac-options").hidden = $("#provider").value !== "hmac";
}

const actionBox = (action) => $(`.action-fields[data-action="${action}"]`);

function showActionFields() {
  const action = $("#actionType").value;
  const asJson = $("#config-as-json").checked;
  for (const box of $$(".action-fields")) box.hidden = asJson || box.dataset.action !== action;
}

function readField(input) {
  const kind = input.dataset.kind || "text";
  if (kind === "bool") return input.checked;
  const text = input.value.trim();
  if (!text) return undefined;
  if (kind === "list") return text.split(",").map((s) => s.trim()).filter(Boolean);
  if (kind === "json") {
    try {
      return JSON.parse(text);
    } catch (err) {
      throw new Error(`${input.labels[0].textContent.trim()}: not valid JSON (${err.message})`);
    }
  }
  return input.value;
}

// A stored secret comes back masked: it is shown as a hint, never put in the field, so that a
// save sends only a secret typed in (an empty field keeps the stored one).
function writeSecretField(input, value) {
  const masked = typeof value === "string" && value.startsWith("••••");
  input.value = masked ? "" : value || "";
  input.placeholder = masked ? `${value} (stored; leave empty to keep it)` : "";
}

function writeField(input, value) {
  const kind = input.dataset.kind || "text";
  if (kind === "secret") writeSecretField(input, value);
  else if (kind === "bool") input.checked = Boolean(value);
  else if (value === undefined || value === null) input.value = input.tagName === "SELECT" ? input.options[0].value : "";
  else if (kind === "list") input.value = value.join(", ");
  else if (kind === "json") input.value = json(value);
  else input.value = value;
}

// Keys the form has no field for (budgets, models, …) are kept as they were.
function readActionFields(action) {
  const base = loadedHook && loadedHook.action === action ? { ...loadedHook.actionConfig } : {};
  for (const input of $$("[data-key]", actionBox(action))) {
    delete base[input.dataset.key];
    const value = readField(input);
    if (value !== undefined) base[input.dataset.key] = value;
  }
  return base;
}

function writeActionFields(action, config) {
  for (const input of $$("[data-key]", actionBox(action))) writeField(input, config[input.dataset.key]);
}

function switchConfigEditor(event) {
  const action = $("#actionType").value;
  const editor = $("#config-json");
  clearAlert();
  try {
    if (event.target.checked) editor.value = json(readActionFields(action));
    else writeActionFields(action, JSON.parse(editor.value || "{}"));
  } catch (err) {
    event.target.checked = !event.target.checked;
    showAlert(err.message);
  }
  $("#config-json-wrap").hidden = !$("#config-as-json").checked;
  showActionFields();
}

function readActionConfig(action) {
  if (!$("#config-as-json").checked) return readActionFields(action);
  try {
    return JSON.parse($("#config-json").value || "{}");
  } catch (err) {
    throw new Error(`Action config (JSON): ${err.message}`);
  }
}

let conditionRows = 0;

function addCondition(condition = { field: "", operator: "equals", value: "" }) {
  const row = $("#condition-row").content.firstElementChild.cloneNode(true);
  conditionRows += 1;
  for (const label of $$("label[data-for]", row)) {
    label.htmlFor = `condition-${conditionRows}-${label.dataset.for}`;
    $(`[data-part="${label.dataset.for}"]`, row).id = label.htmlFor;
  }
  $('[data-part="field"]', row).value = condition.field;
  $('[data-part="operator"]', row).value = condition.operator;
  const value = condition.value;
  $('[data-part="value"]', row).value = typeof value === "string" ? value : value === undefined ? "" : JSON.stringify(value);
  $('[data-part="remove"]', row).addEventListener("click", () => row.remove());
  $("#conditions").append(row);
  return row;
}

function conditionValue(text) {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

function readConditions() {
  return $$("#conditions .condition").map((row) => {
    const condition = {
      field: $('[data-part="field"]', row).value.trim(),
      operator: $('[data-part="operator"]', row).value,
    };
    const text = $('[data-part="value"]', row).value.trim();
    if (text || condition.operator !== "exists") condition.value = conditionValue(text);
    return condition;
  });
}

function readTriggerConfig() {
  const trigger = loadedHook ? { ...loadedHook.triggerConfig } : {};
  // Secrets are omitted unless typed in: the server keeps the stored ones (rotation secrets too).
  for (const key of ["webhookSecret", "webhookSecrets", "provider", "events", "signatureHeader", "algorithm", "encoding", "prefix"]) {
    delete trigger[key];
  }
  trigger.webhookPath = $("#webhookPath").value.trim();
  if ($("#webhookSecret").value.trim()) trigger.webhookSecret = $("#webhookSecret").value.trim();
  if ($("#provider").value !== "auto") trigger.provider = $("#provider").value;
  if ($("#provider").value === "hmac") {
    for (const key of ["signatureHeader", "algorithm", "encoding", "prefix"]) {
      if ($(`#${key}`).value.trim()) trigger[key] = $(`#${key}`).value.trim();
    }
  }
  const events = $("#events").value.split(",").map((s) => s.trim()).filter(Boolean);
  if (events.length) trigger.events = events;
  return trigger;
}

async function saveHook(event) {
  event.preventDefault();
  clearAlert();
  let hook;
  try {
    hook = {
      name: $("#name").value,
      description: $("#description").value.trim() || null,
      isEnabled: $("#isEnabled").checked,
      concurrency: $("#concurrency").value ? Number($("#concurrency").value) : null,
      autoPauseAfter: $("#autoPauseAfter").value ? Number($("#autoPauseAfter").value) : null,
      trigger: "webhook",
      triggerConfig: readTriggerConfig(),
      action: $("#actionType").value,
      actionConfig: readActionConfig($("#actionType").value),
      conditions: readConditions(),
    };
  } catch (err) {
    showAlert(err.message);
    return;
  }
  const saved = await attempt(() =>
    loadedHook ? api("PATCH", `/api/hooks/${loadedHook.id}`, hook) : api("POST", "/api/hooks", hook),
  );
  if (!saved) return;
  flashNext(`Saved "${saved.hook.name}". Webhook URL: ${webhookUrl(saved.hook.triggerConfig.webhookPath)}`);
  location.assign("/ui/hooks");
}

async function deleteLoadedHook() {
  if (!confirm(`Delete the hook "${loadedHook.name}"? Its execution log is deleted with it.`)) return;
  if (await attempt(() => api("DELETE", `/api/hooks/${loadedHook.id}`))) {
    flashNext(`Deleted "${loadedHook.name}".`);
    location.assign("/ui/hooks");
  }
}

// ---- Execution log -----------------------------------------------------------------------

const log = { items: [], total: 0, timer: null, unfollow: null };

async function executionsPage() {
  if (body.hookId) {
    const data = await attempt(() => api("GET", `/api/hooks/${body.hookId}`));
    if (!data) return;
    $("#log-title").textContent = `Execution Log: ${data.hook.name}`;
    document.title = `${data.hook.name} · Execution Log · Octipus Hooks`;
  }
  const status = new URLSearchParams(location.search).get("status") || "";
  $("#status-filter").value = status;
  $("#status-filter").addEventListener("change", () => {
    const params = new URLSearchParams(location.search);
    if ($("#status-filter").value) params.set("status", $("#status-filter").value);
    else params.delete("status");
    history.replaceState(null, "", `${location.pathname}${params.toString() ? `?${params}` : ""}`);
    loadExecutions(PAGE_SIZE);
    followLog();
  });
  $("#log-filter").addEventListener("submit", (event) => event.preventDefault());
  $("#refresh").addEventListener("click", () => loadExecutions(Math.max(log.items.length, PAGE_SIZE)));
  $("#load-more").addEventListener("click", () => loadExecutions(log.items.length + PAGE_SIZE));
  followLog();
  await loadExecutions(PAGE_SIZE);
}

async function loadExecutions(limit) {
  clearTimeout(log.timer);
  const params = new URLSearchParams({ limit: String(limit), offset: "0" });
  if ($("#status-filter").value) params.set("status", $("#status-filter").value);
  const base = body.hookId ? `/api/hooks/${body.hookId}/executions` : "/api/executions";
  const data = await attempt(() => api("GET", `${base}?${params}`));
  if (!data) return;
  const open = new Set($$("#executions details[open]").map((d) => d.dataset.id));
  log.items = data.executions;
  log.total = data.total;
  $("#executions").replaceChildren(...log.items.map((item) => executionItem(item, open.has(item.id))));
  $("#log-empty").hidden = log.items.length > 0;
  $("#log-count").textContent = `${log.items.length} of ${log.total}`;
  $("#load-more").hidden = log.items.length >= log.total;
}

// The log follows the stream of execution changes with the page's filters: a change reloads the
// rows shown (once per burst), so new deliveries and outcomes appear without a reload.
function followLog() {
  if (log.unfollow) log.unfollow();
  const params = new URLSearchParams();
  if (body.hookId) params.set("hookId", body.hookId);
  if ($("#status-filter").value) params.set("status", $("#status-filter").value);
  log.unfollow = followExecutions(params, () => {
    clearTimeout(log.timer);
    log.timer = setTimeout(() => loadExecutions(Math.max(log.items.length, PAGE_SIZE)), 250);
  });
}

// ---- Live updates ------------------------------------------------------------------------

// GET /api/executions/stream (Server-Sent Events), read with fetch because EventSource cannot
// send the bearer token. Like EventSource, it reconnects after the server's `retry` delay with
// Last-Event-ID, so no change is missed. Returns a function that stops it.
function followExecutions(params, onChange) {
  let stopped = false;
  let controller = null;
  let lastId = null;
  const run = async () => {
    while (!stopped) {
      let wait = 3000;
      controller = new AbortController();
      const headers = { Authorization: `Bearer ${localStorage.getItem(TOKEN_KEY)}` };
      if (lastId) headers["Last-Event-ID"] = lastId;
      try {
        const response = await fetch(`/api/executions/stream?${params}`, { headers, signal: controller.signal });
        if (response.status === 401) return goToLogin();
        if (!response.ok) throw new Error(`${response.status}`);
        const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
        let buffer = "";
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buffer += value.replace(/\r\n?/g, "\n");
          let end;
          while ((end = buffer.indexOf("\n\n")) >= 0) {
            const event = sseEvent(buffer.slice(0, end));
            buffer = buffer.slice(end + 2);
            if (event.id) lastId = event.id;
            if (event.retry) wait = event.retry;
            if (event.data) onChange(event.type, JSON.parse(event.data));
          }
        }
      } catch {
        if (stopped) return;  // aborted by the caller; otherwise the server is away: try again
      }
      await new Promise((resolve) => setTimeout(resolve, wait));
    }
  };
  run();
  return () => {
    stopped = true;
    if (controller) controller.abort();
  };
}

// One event block of a Server-Sent Events stream: its fields (comments skipped).
function sseEvent(block) {
  const event = { type: "message", data: "", id: null, retry: null };
  for (const line of block.split("\n")) {
    if (!line || line.startsWith(":")) continue;
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
    if (field === "data") event.data += event.data ? `\n${value}` : value;
    else if (field === "event") event.type = value;
    else if (field === "id") event.id = value;
    else if (field === "retry" && /^\d+$/.test(value)) event.retry = Number(value);
  }
  return event;
}

function executionItem(item, open) {
  const fields = [
    ["Execution", item.id],
    ["Hook", `${item.hookName} (${item.hookId})`],
    ["Delivery", item.deliveryId],
    ["Source", item.source],
    ["Action", item.actionType],
    ["Attempts", `${item.attempts} of ${item.maxAttempts}`],
    ["Duration", duration(item.durationMs)],
    ["Created", when(item.createdAt)],
    ["Started", when(item.startedAt)],
    ["Finished", when(item.finishedAt)],
    ["Next attempt", item.nextAttemptAt ? when(item.nextAttemptAt) : null],
  ].filter(([, value]) => value !== null && value !== undefined && value !== "");
  const replay = h("button", { type: "button", onclick: () => replayExecution(item) }, "Replay");
  return h(
    "details",
    { class: "execution", "data-id": item.id, "data-status": item.status, open },
    h("summary", {},
      badge(item.status),
      h("span", { class: "event" }, (item.triggerContext && item.triggerContext.event) || item.triggerType),
      body.hookId ? null : h("span", { class: "hook-name" }, item.hookName),
      item.source && item.source !== "hook" ? h("span", { class: "badge source" }, item.source) : null,
      h("span", { class: "muted" }, `${when(item.createdAt)} · ${duration(item.durationMs)} · attempt ${item.attempts}`)),
    h("div", { class: "execution-body" },
      h("dl", {}, fields.map(([name, value]) => [h("dt", {}, name), h("dd", {}, String(value))])),
      item.error ? [h("h3", {}, "Error"), h("pre", { class: "error-text" }, item.error)] : null,
      h("h3", {}, "Result"), h("pre", {}, item.result === null || item.result === undefined ? "—" : json(item.result)),
      h("h3", {}, "Trigger context"), h("pre", {}, json(item.triggerContext ?? null)),
      h("div", { class: "buttons" }, replay)),
  );
}

async function replayExecution(item) {
  const answer = await attempt(() => api("POST", `/api/executions/${item.id}/replay`));
  if (!answer) return;
  showAlert(`Replay queued as execution ${answer.execution.id}.`, "success");
  await loadExecutions(Math.max(log.items.length + 1, PAGE_SIZE));
}

// ---- Rejections --------------------------------------------------------------------------

async function rejectionsPage() {
  const path = new URLSearchParams(location.search).get("path") || "";
  $("#path-filter").value = path;
  $("#rejections-filter").addEventListener("submit", (event) => {
    event.preventDefault();
    const wanted = $("#path-filter").value.trim();
    history.replaceState(null, "", wanted ? `?path=${encodeURIComponent(wanted)}` : location.pathname);
    loadRejections(wanted);
  });
  await loadRejections(path);
}

async function loadRejections(path) {
  const query = path ? `?path=${encodeURIComponent(path)}` : "";
  const data = await attempt(() => api("GET", `/api/webhooks/rejections${query}`));
  if (!data) return;
  const rows = data.rejections.map((r) =>
    h("tr", {},
      h("td", {}, when(r.receivedAt)),
      h("td", {}, h("code", {}, r.path)),
      h("td", {}, h("span", { class: "badge error" }, String(r.status))),
      h("td", { class: "reason" }, r.reason),
      h("td", {}, r.eventType || "—"),
      h("td", {}, r.remoteAddr || "—"),
      h("td", {}, h("details", {}, h("summary", {}, "Show"), h("pre", {}, json(r.headers))))),
  );
  $("#rejections-table tbody").replaceChildren(...rows);
  $("#rejections-table").hidden = rows.length === 0;
  $("#rejections-empty").hidden = rows.length > 0;
}

// ---- Channels ----------------------------------------------------------------------------

async function channelsPage() {
  $("#redeem-form").addEventListener("submit", redeemCode);
  $("#issue-code").addEventListener("click", issueCode);
  $("#apprise-form").addEventListener("submit", addDestination);
  await loadBindings();
}

async function loadBindings() {
  const data = await attempt(() => api("GET", "/api/auth/channel-bindings"));
  if (!data) return;
  $("#bindings-table tbody").replaceChildren(...data.bindings.map(bindingRow));
  $("#bindings-table").hidden = data.bindings.length === 0;
  $("#bindings-empty").hidden = data.bindings.length > 0;
}

function bindingRow(binding) {
  const chat = binding.displayName || binding.externalId;
  const unlink = async () => {
    if (!confirm(`Unlink ${binding.type} ${chat}? It stops receiving notifications.`)) return;
    const path = `/api/auth/channel-bindings/${encodeURIComponent(binding.type)}/${encodeURIComponent(binding.externalId)}`;
    if (await attempt(() => api("DELETE", path))) {
      showAlert(`Unlinked ${binding.type} ${chat}.`, "success");
      await loadBindings();
    }
  };
  const verifiable = binding.type === "apprise" && binding.status !== "verified";
  return h("tr", {},
    h("td", {}, binding.type),
    h("td", {}, chat, h("div", { class: "muted" }, h("code", {}, binding.target))),
    h("td", {}, badge(binding.status)),
    h("td", {}, when(binding.verifiedAt || binding.createdAt)),
    h("td", {}, h("div", { class: "commands" },
      verifiable ? verifyForm(binding, chat) : null,
      h("button", { type: "button", class: "danger", "aria-label": `Unlink ${binding.type} ${chat}`, onclick: unlink }, "Unlink"))));
}

function verifyForm(binding, chat) {
  const input = h("input", { name: "code", required: true, autocomplete: "off", "aria-label": `Code sent to ${chat}`, placeholder: "code" });
  return h("form", {
    class: "inline",
    onsubmit: async (event) => {
      event.preventDefault();
      const path = `/api/auth/channel-bindings/apprise/${encodeURIComponent(binding.externalId)}/verify`;
      const answer = await attempt(() => api("POST", path, { code: input.value.trim() }));
      if (!answer) return;
      showAlert(`Verified ${chat}.`, "success");
      await loadBindings();
    },
  }, input, h("button", { type: "submit" }, "Verify"));
}

async function addDestination(event) {
  event.preventDefault();
  const result = $("#apprise-result");
  clearAlert(result);
  const request = { url: $("#apprise-url").value.trim(), name: $("#apprise-name").value.trim() || null };
  const answer = await attempt(() => api("POST", "/api/auth/channel-bindings/apprise", request), result);
  if (!answer) return;
  $("#apprise-form").reset();
  const chat = answer.binding.displayName || answer.binding.externalId;
  showAlert(answer.codeSent ? `Code sent to ${chat}: enter it in the table above.` : `${chat} is already verified.`, "success", result);
  await loadBindings();
}

async function redeemCode(event) {
  event.preventDefault();
  const result = $("#redeem-result");
  clearAlert(result);
  const code = $("#link-code").value.trim();
  const answer = await attempt(() => api("POST", "/api/auth/channel-bindings/redeem", { code }), result);
  if (!answer) return;
  const binding = answer.binding;
  showAlert(`Linked ${binding.type} ${binding.displayName || binding.externalId}: ${binding.status}.`, "success", result);
  $("#link-code").value = "";
  await loadBindings();
}

async function issueCode() {
  clearAlert();
  const answer = await attempt(() => api("POST", "/api/auth/channel-bindings/link-code"));
  if (!answer) return;
  $("#issued-command").textContent = `/link ${answer.code}`;
  $("#issued-expiry").textContent = answer.expiresAt ? `Expires ${when(answer.expiresAt)}.` : "";
  $("#issued").hidden = false;
}

// ---- Start -------------------------------------------------------------------------------
// ---- Tokens ------------------------------------------------------------------------------

async function tokensPage() {
  await loadTokens();
}

async function loadTokens() {
  const data = await attempt(() => api("GET", "/api/auth/tokens"));
  if (!data) return;
  $("#tokens-table tbody").replaceChildren(...data.tokens.map(tokenRow));
  $("#tokens-table").hidden = data.tokens.length === 0;
  $("#tokens-empty").hidden = data.tokens.length > 0;
}

function tokenRow(token) {
  const mine = token.prefix && (localStorage.getItem(TOKEN_KEY) || "").startsWith(token.prefix);
  const revoke = async () => {
    const warning = mine ? " If it is the token you signed in with, you will be signed out." : "";
    if (!confirm(`Revoke the token "${token.name}"? It stops working at once.${warning}`)) return;
    if (await attempt(() => api("DELETE", `/api/auth/tokens/${encodeURIComponent(token.id)}`))) {
      showAlert(`Revoked "${token.name}".`, "success");
      await loadTokens();
    }
  };
  return h("tr", { "data-token-id": token.id },
    h("td", {}, token.name),
    h("td", {}, h("code", {}, `${token.prefix || "?"}…`)),
    h("td", {}, when(token.createdAt)),
    h("td", {}, h("button", { type: "button", class: "danger",
      "aria-label": `Revoke token ${token.name}`, onclick: revoke }, "Revoke")));
}

const PAGES = {
  login: loginPage,
  hooks: hooksPage,
  "hook-form": hookFormPage,
  executions: executionsPage,
  rejections: rejectionsPage,
  channels: channelsPage,
  tokens: tokensPage,
};

if (body.page !== "login" && !localStorage.getItem(TOKEN_KEY)) {
  goToLogin();
} else {
  const signOut = $("#sign-out");
  if (signOut) {
    signOut.addEventListener("click", () => {
      localStorage.removeItem(TOKEN_KEY);
      location.assign("/ui/login");
    });
  }
  PAGES[body.page]();
}
