// The status page: reads GET /status and GET /status/throughput every few seconds and fills the page.
// Plain browser JavaScript, no framework, no build step; every value from the cluster is set as text
// (never as HTML), since server names, usernames and models are chosen by anyone.
'use strict';

(function statusPage() {
  const REFRESH_MS = 5000;
  const SVG = 'http://www.w3.org/2000/svg';
  const $ = (id) => document.getElementById(id);
  const number = new Intl.NumberFormat('en-US');
  let lastSuccess = 0;

  const format = (value) => number.format(Math.round(value));

  function duration(seconds) {
    if (seconds === null || seconds === undefined) return '–';
    if (seconds < 60) return `${Math.round(seconds)} s`;
    if (seconds < 3600) return `${Math.floor(seconds / 60)} min ${Math.round(seconds % 60)} s`;
    return `${Math.floor(seconds / 3600)} h ${Math.floor((seconds % 3600) / 60)} min`;
  }

  function ago(iso, now) {
    const seconds = Math.max(0, (now - Date.parse(iso)) / 1000);
    return seconds < 5 ? 'just now' : `${duration(seconds)} ago`;
  }

  function cell(row, text, className) {
    const td = document.createElement('td');
    td.textContent = text;
    if (className) td.className = className;
    row.appendChild(td);
    return td;
  }

  function setText(id, text) {
    const element = $(id);
    if (element.textContent !== text) element.textContent = text;
  }

  function renderServers(servers, now) {
    const body = $('servers');
    body.replaceChildren();
    for (const server of servers) {
      const row = document.createElement('tr');
      cell(row, server.name, 'name');
      cell(row, server.owner);
      cell(row, server.model, 'model');
      cell(row, format(server.max_length), 'num');
      cell(row, format(server.max_content_length), 'num');
      cell(row, server.tokens_per_second === null ? '–' : server.tokens_per_second.toFixed(1), 'num');
      cell(row, format(server.requests_fulfilled), 'num');
      const seen = cell(row, ago(server.last_seen, now), 'num');
      if (now - Date.parse(server.last_seen) < 30000) seen.classList.add('fresh');
      body.appendChild(row);
    }
    $('servers-table').hidden = servers.length === 0;
    $('servers-empty').hidden = servers.length > 0;
  }

  function renderModels(models, anyModel) {
    const body = $('models');
    body.replaceChildren();
    for (const model of models) {
      const row = document.createElement('tr');
      cell(row, model.name, 'model');
      cell(row, format(model.servers), 'num');
      cell(row, format(model.waiting_requests), 'num');
      body.appendChild(row);
    }
    $('models-table').hidden = models.length === 0;
    $('models-empty').hidden = models.length > 0;
    setText('any-model', anyModel > 0 ? `${format(anyModel)} waiting for any model` : '');
  }

  function renderContributors(contributors) {
    const list = $('contributors');
    list.replaceChildren();
    const top = contributors.length > 0 ? contributors[0].contributions : 1;
    contributors.forEach((contributor, index) => {
      const item = document.createElement('li');
      const rank = document.createElement('span');
      rank.className = 'rank';
      rank.textContent = `${index + 1}.`;
      const who = document.createElement('span');
      who.className = 'who';
      who.textContent = contributor.username;
      who.title = contributor.username;
      const amount = document.createElement('span');
      amount.className = 'amount';
      amount.textContent = `${format(contributor.contributions)} tokens`;
      const meter = document.createElement('span');
      meter.className = 'meter';
      const fill = document.createElement('span');
      fill.style.width = `${Math.max(2, (100 * contributor.contributions) / top)}%`;
      meter.appendChild(fill);
      item.append(rank, who, amount, meter);
      list.appendChild(item);
    });
    $('contributors-empty').hidden = contributors.length > 0;
  }

  function svg(name, attributes) {
    const element = document.createElementNS(SVG, name);
    for (const [key, value] of Object.entries(attributes)) element.setAttribute(key, String(value));
    return element;
  }

  function renderChart(minutes) {
    const chart = $('chart');
    const width = 720;
    const height = 180;
    const top = 18;
    const peak = Math.max(...minutes.map((point) => point.tokens), 0);
    const scale = peak > 0 ? (height - top) / peak : 0;
    const slot = width / minutes.length;
    const parts = [svg('line', { class: 'grid', x1: 0, x2: width, y1: height - 0.5, y2: height - 0.5 })];
    if (peak > 0) {
      parts.push(svg('line', { class: 'grid', x1: 0, x2: width, y1: top, y2: top }));
      const label = svg('text', { class: 'label', x: 4, y: top - 5 });
      label.textContent = `${format(peak)} tokens/min`;
      parts.push(label);
    }
    minutes.forEach((point, index) => {
      const barHeight = point.tokens * scale;
      if (barHeight <= 0) return;
      const bar = svg('rect', {
        class: index === minutes.length - 1 ? 'bar bar-now' : 'bar',
        x: index * slot + 1,
        y: height - barHeight,
        width: Math.max(1, slot - 2),
        height: barHeight,
        rx: 2,
      });
      const title = svg('title', {});
      title.textContent = `${format(point.tokens)} tokens in the minute from ${new Date(point.start).toLocaleTimeString()}`;
      bar.appendChild(title);
      parts.push(bar);
    });
    chart.replaceChildren(...parts);
  }

  function render(status, throughput) {
    const now = Date.parse(status.generated_at);
    const modelsServed = status.models.filter((model) => model.servers > 0).length;
    setText('servers-count', format(status.servers.length));
    setText('models-count', `${format(modelsServed)} model${modelsServed === 1 ? '' : 's'} served`);
    setText('waiting-requests', format(status.queue.waiting_requests));
    setText('waiting-slots', `${format(status.queue.waiting_slots)} generation${status.queue.waiting_slots === 1 ? '' : 's'} to make`);
    setText('processing', format(status.queue.processing_generations));
    setText('oldest-wait', status.queue.oldest_wait_seconds === null ? 'none' : duration(status.queue.oldest_wait_seconds));
    setText('tokens-minute', format(status.tokens.last_minute));
    setText('tokens-hour', `${format(status.tokens.last_hour)} in the last hour`);
    setText('version', `KoboldAI Cluster ${status.version}`);
    renderServers(status.servers, now);
    renderModels(status.models, status.queue.waiting_for_any_model);
    renderContributors(status.top_contributors);
    renderChart(throughput.minutes);
  }

  function setLive(state, text) {
    const live = $('live');
    live.className = `pill${state === 'ok' ? '' : state === 'error' ? ' pill-error' : ' pill-wait'}`;
    setText('live', text);
  }

  async function getJson(path) {
    const response = await fetch(path, { headers: { accept: 'application/json' }, cache: 'no-store' });
    if (!response.ok) throw new Error(`${path}: ${response.status}`);
    return response.json();
  }

  async function refresh() {
    try {
      const [status, throughput] = await Promise.all([getJson('/status'), getJson('/status/throughput')]);
      render(status, throughput);
      lastSuccess = Date.now();
      setLive('ok', 'Live');
    } catch {
      setLive('error', lastSuccess ? `Connection lost ${duration((Date.now() - lastSuccess) / 1000)} ago, retrying` : 'Cannot reach the cluster, retrying');
    } finally {
      setTimeout(refresh, REFRESH_MS);
    }
  }

  setText('join-command', `npm run bridge -- -u USER -p PASS -n "My Awesome Instance" -k http://localhost:5000 -c ${window.location.origin}`);
  void refresh();
})();
