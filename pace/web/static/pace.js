// pace web: confirmations before actions, and live progress bars (server-sent events).
// No framework, no build step. Text from the server is only ever set as textContent.
"use strict";

(() => {
  const root = document.querySelector('meta[name="pace-root"]').content;

  // Every action form asks first (its data-confirm is the question).
  document.addEventListener("submit", (event) => {
    const question = event.target.dataset && event.target.dataset.confirm;
    if (question && !window.confirm(question)) event.preventDefault();
  });

  const duration = (seconds) => {
    const whole = Math.max(0, Math.round(seconds));
    if (whole < 60) return `${whole} s`;
    if (whole < 3600) return `${Math.floor(whole / 60)} min ${whole % 60} s`;
    return `${Math.floor(whole / 3600)} h ${Math.floor((whole % 3600) / 60)} min`;
  };

  const stateOf = (job) => {
    if (job.status === "failed") return `failed: ${job.error || ""}`;
    if (job.status === "completed") return `done in ${duration(job.elapsed_seconds)}`;
    if (job.eta_seconds !== null) return `ETA ${duration(job.eta_seconds)}`;
    return job.status;
  };

  const element = (tag, className, text) => {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  };

  const newRow = (job) => {
    const row = element("li", "bar");
    row.dataset.job = job.job_id;
    const head = element("div", "bar-head");
    head.append(element("span", "bar-name", job.name || "job"), " ",
      element("span", "bar-id muted", job.job_id.slice(0, 12)));
    const info = element("div", "bar-info");
    info.append(element("span", "bar-percent"), " ", element("span", "bar-count"), " ",
      element("span", "bar-state"));
    const bar = document.createElement("progress");
    bar.max = 100;
    row.append(head, bar, info);
    return row;
  };

  const update = (row, job) => {
    row.className = `bar ${job.status}`;
    const bar = row.querySelector("progress");
    if (job.percentage === null) bar.removeAttribute("value");
    else bar.value = job.percentage;
    row.querySelector(".bar-percent").textContent =
      job.percentage === null ? "?%" : `${job.percent}%`;
    row.querySelector(".bar-count").textContent =
      job.total === null ? `${job.count}` : `${job.count}/${job.total}`;
    row.querySelector(".bar-state").textContent = stateOf(job);
  };

  const render = (section, data) => {
    const list = section.querySelector(".bars");
    const rows = new Map([...list.children].map((row) => [row.dataset.job, row]));
    const ordered = data.jobs.map((job) => {
      const row = rows.get(job.job_id) || newRow(job);
      update(row, job);
      return row;
    });
    list.replaceChildren(...ordered);
    section.querySelector(".scope-summary").textContent =
      `${data.running} running · ${data.total} in all`;
    section.querySelector(".empty").hidden = data.jobs.length > 0;
  };

  for (const box of document.querySelectorAll("[data-live-scopes]")) {
    const scopes = JSON.parse(box.dataset.liveScopes);
    if (!scopes.length) continue;
    const query = scopes.map((scope) => `scope=${encodeURIComponent(scope)}`).join("&");
    const source = new EventSource(`${root}api/events?${query}`);
    source.addEventListener("progress", (event) => {
      const data = JSON.parse(event.data);
      for (const section of box.querySelectorAll("[data-scope]")) {
        const scope = data.scopes[section.dataset.scope];
        if (scope) render(section, scope);
      }
      box.dataset.updated = String(Date.now());
    });
    window.addEventListener("pagehide", () => source.close());
  }
})();
