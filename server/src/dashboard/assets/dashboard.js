// The dashboard's live parts: state changes from the server's event streams, the compose log
// while it grows, and the renew and delete buttons. The pages work without it, only not live.
(function () {
  'use strict';

  const root = document.body.dataset.root || '';
  const api = root + '/api/1/';
  const sourceTypes = JSON.parse(document.body.dataset.sourceTypes || '{}');

  function showState(cell, state) {
    cell.textContent = state;
    cell.className = 'state state-' + state;
  }

  // Tells the page (its style sheet, and tests) whether the events stream is connected.
  function watchConnection(events) {
    events.onopen = function () { document.body.dataset.live = 'true'; };
    events.onerror = function () { document.body.dataset.live = 'false'; };
  }

  function cell(text) {
    const td = document.createElement('td');
    td.textContent = text == null ? '' : String(text);
    return td;
  }

  function followList(table) {
    const filter = table.dataset;
    const params = new URLSearchParams();
    if (filter.owner) params.set('owner', filter.owner);
    if (filter.sourceType) params.set('source_type', filter.sourceType);
    if (filter.source) params.set('source', filter.source);
    // Changes since the page was read come first (some again: applying them twice is harmless).
    params.set('last_event_id', filter.cursor);
    const body = table.tBodies[0];
    let newest = 0;
    body.querySelectorAll('tr[data-id]').forEach(function (row) {
      newest = Math.max(newest, Number(row.dataset.id));
    });
    const events = new EventSource(api + 'events?' + params.toString());
    watchConnection(events);
    events.onmessage = function (message) {
      const compose = JSON.parse(message.data).compose;
      const row = body.querySelector('tr[data-id="' + compose.id + '"]');
      if (row) {
        showState(row.querySelector('[data-field="state"]'), compose.state_name);
        row.querySelector('[data-field="expires"]').textContent = compose.time_to_expire;
        return;
      }
      // Only composes newer than the page's are new: an older one is on another page.
      const fresh = compose.state_name === 'wait' && compose.id > newest;
      const wanted = !filter.state || filter.state === 'wait';
      if (filter.page !== '1' || !fresh || !wanted) return;
      const empty = body.querySelector('tr.empty');
      if (empty) empty.remove();
      const tr = document.createElement('tr');
      tr.dataset.id = compose.id;
      const link = document.createElement('a');
      link.href = root + '/dashboard/composes/' + compose.id;
      link.textContent = compose.id;
      const id = document.createElement('td');
      id.appendChild(link);
      const source = cell(compose.source);
      source.className = 'source';
      const state = cell(compose.state_name);
      state.dataset.field = 'state';
      showState(state, compose.state_name);
      const expires = cell(compose.time_to_expire);
      expires.dataset.field = 'expires';
      tr.append(id, cell(compose.owner), cell(sourceTypes[compose.source_type]), source, state,
        cell(compose.time_submitted), expires);
      body.insertBefore(tr, body.firstChild);
      newest = compose.id;
      const total = document.querySelector('[data-field="total"]');
      if (total) total.textContent = String(Number(total.textContent) + 1);
    };
  }

  function followCompose(section) {
    const id = section.dataset.id;
    const history = document.querySelector('#history tbody');
    const logUrl = section.dataset.log;
    const log = document.getElementById('log');
    let logOffset = 0;
    let tailing = null;

    async function readLog() {
      try {
        const reply = await fetch(logUrl, { headers: { Range: 'bytes=' + logOffset + '-' } });
        if (reply.status !== 200 && reply.status !== 206) return;
        let text = await reply.text();
        if (reply.status === 200) text = text.slice(logOffset);
        logOffset += new TextEncoder().encode(text).length;
        log.textContent += text;
      } catch (e) {
        // The log is served from another host that does not allow this page to read it: the
        // link above still opens it.
      }
    }

    function tail(state) {
      if (!logUrl) return;
      if (state === 'generating' && tailing === null) {
        tailing = setInterval(readLog, 2000);
      } else if (state !== 'generating' && state !== 'wait') {
        if (tailing !== null) clearInterval(tailing);
        tailing = null;
      }
      readLog();
    }

    const events = new EventSource(api + 'composes/' + id + '/events');
    watchConnection(events);
    events.onmessage = function (message) {
      // Events already on the page (the stream replays the history), or the stand-in for a
      // pruned history, which the page shows already.
      if (!message.lastEventId ||
          history.querySelector('tr[data-event-id="' + message.lastEventId + '"]')) {
        return;
      }
      const compose = JSON.parse(message.data).compose;
      const tr = document.createElement('tr');
      tr.dataset.eventId = message.lastEventId;
      tr.append(cell(new Date().toISOString().replace(/\.\d+Z$/, 'Z')), cell(compose.state_name),
        cell(compose.state_reason));
      history.appendChild(tr);
      showState(section.querySelector('[data-field="state"]'), compose.state_name);
      section.querySelector('[data-field="reason"]').textContent = compose.state_reason || '';
      section.querySelector('[data-field="expires"]').textContent = compose.time_to_expire;
      section.dataset.state = compose.state_name;
      tail(compose.state_name);
      if (compose.state_name !== 'wait' && compose.state_name !== 'generating') {
        // Links and times of the finished compose come with the page.
        events.close();
        setTimeout(function () { location.reload(); }, 1000);
      }
    };
    tail(section.dataset.state);

    const outcome = section.querySelector('[data-field="outcome"]');
    section.querySelectorAll('button[data-action]').forEach(function (button) {
      button.addEventListener('click', async function () {
        const renew = button.dataset.action === 'renew';
        button.disabled = true;
        const reply = await fetch(api + 'composes/' + id, {
          method: renew ? 'PATCH' : 'DELETE',
          headers: { 'Content-Type': 'application/json' },
          body: renew ? '{}' : undefined,
          credentials: 'same-origin',
        });
        const answer = await reply.json().catch(function () { return {}; });
        button.disabled = false;
        if (!reply.ok) {
          outcome.textContent = answer.message || reply.statusText;
          return;
        }
        if (renew && String(answer.id) !== id) {
          location.href = root + '/dashboard/composes/' + answer.id;
          return;
        }
        outcome.textContent = renew ? 'Renewed until ' + answer.time_to_expire : answer.message;
        setTimeout(function () { location.reload(); }, 1000);
      });
    });
  }

  const list = document.getElementById('composes');
  if (list) followList(list);
  const compose = document.getElementById('compose');
  if (compose) followCompose(compose);
})();
