// The dashboard's only script (plain ES2020, no dependencies): live refresh of <main>, a task's live
// state through its event stream, confirmation dialogs, and actions through the JSON routes. Requests
// that change something carry the x-ktask-ui header (see src/http/ui/session.ts).
'use strict'

const statusEl = () => document.getElementById('status')

function say(text, isError) {
  const el = statusEl()
  if (!el) return
  el.textContent = text
  el.className = isError ? 'error' : 'ok'
}

async function problemText(res) {
  try {
    const body = await res.json()
    return body.detail || body.message || res.statusText
  } catch {
    return res.statusText
  }
}

async function api(method, url, body) {
  const res = await fetch(url, {
    method,
    headers: body === undefined ? { 'x-ktask-ui': '1' } : { 'x-ktask-ui': '1', 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: 'same-origin',
  })
  if (!res.ok) throw new Error(await problemText(res))
  return { res, body: res.status === 204 ? null : await res.json() }
}

/** Shows the confirmation dialog; resolves true when confirmed (Enter / the Confirm button), false otherwise. */
function confirmDialog(title, content, okLabel) {
  const dialog = document.getElementById('confirm')
  document.getElementById('confirm-title').textContent = title
  const body = document.getElementById('confirm-body')
  body.replaceChildren(...(Array.isArray(content) ? content : [content]).map((c) => (typeof c === 'string' ? paragraph(c) : c)))
  const ok = document.getElementById('confirm-ok')
  ok.textContent = okLabel || 'Confirm'
  ok.hidden = okLabel === null
  dialog.returnValue = ''
  return new Promise((resolve) => {
    dialog.addEventListener('close', () => resolve(dialog.returnValue === 'ok'), { once: true })
    dialog.showModal()
    ;(okLabel === null ? dialog.querySelector('button[value=cancel]') : ok).focus()
  })
}

function paragraph(text) {
  const p = document.createElement('p')
  p.textContent = text
  return p
}

function table(headings, rows) {
  const t = document.createElement('table')
  const head = t.createTHead().insertRow()
  for (const h of headings) {
    const th = document.createElement('th')
    th.scope = 'col'
    th.textContent = h
    head.appendChild(th)
  }
  const tbody = t.createTBody()
  for (const r of rows) {
    const tr = tbody.insertRow()
    for (const cell of r) tr.insertCell().textContent = String(cell)
  }
  return t
}

const plural = (n, one, many) => `${n} ${n === 1 ? one : many}`
const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

// Live refresh: <main data-refresh="ms"> is re-rendered from the page's own URL, unless the person is
// typing in it, a dialog is open or the tab is hidden.
function liveRefresh() {
  const main = document.getElementById('main')
  const every = Number(main && main.dataset.refresh)
  if (!every) return
  setInterval(async () => {
    if (document.hidden || document.querySelector('dialog[open]')) return
    const active = document.activeElement
    if (active && main.contains(active) && /^(INPUT|SELECT|TEXTAREA)$/.test(active.tagName)) return
    try {
      const res = await fetch(location.href, { headers: { 'x-ktask-fragment': '1' }, credentials: 'same-origin' })
      if (!res.ok) return
      const focused = active && main.contains(active) && active.getAttribute('href')
      main.innerHTML = await res.text()
      if (focused) main.querySelector(`[href="${CSS.escape(focused)}"]`)?.focus()
    } catch {
      // The service is restarting: the next tick tries again.
    }
  }, every)
}

// A task's page follows its event stream; a final task is looked at again every few seconds (a redrive
// or a replay can bring it back).
function followTask() {
  const card = document.querySelector('[data-task]')
  if (!card || typeof EventSource === 'undefined') return
  const id = card.dataset.task
  const finals = JSON.parse(card.dataset.final)
  const field = (name) => card.querySelector(`[data-field="${name}"]`)
  const setProgress = (progress, message) => {
    const value = progress == null ? 0 : progress
    field('progress').value = value
    field('progressText').textContent = `${Math.round(value * 100)}%`
    field('progressMessage').textContent = message || ''
  }
  const when = (iso) => (iso ? iso.replace('T', ' ').replace(/\.\d{3}Z$/, ' UTC') : '—')
  const showState = (s) => {
    const badge = document.createElement('span')
    badge.className = `badge ${s.state === 'SUCCEEDED' ? 'ok' : finals.includes(s.state) ? 'bad' : /STARTED|RETRYING/.test(s.state) ? 'run' : 'wait'}`
    badge.dataset.state = s.state
    badge.textContent = s.state
    field('state').replaceChildren(badge)
    field('attempts').textContent = String(s.attempts)
    field('startedAt').textContent = when(s.startedAt)
    field('finishedAt').textContent = when(s.finishedAt)
    field('result').textContent = s.result == null ? '—' : JSON.stringify(s.result, null, 2)
    field('error').textContent = s.error ? `${s.error.class}: ${s.error.message}\nstage ${s.error.stage}, attempt ${s.error.attempt}` : '—'
    setProgress(s.progress, s.progressMessage)
  }
  const open = () => {
    const source = new EventSource(`/v1/tasks/${encodeURIComponent(id)}/events`)
    source.addEventListener('state', (e) => {
      const s = JSON.parse(e.data)
      showState(s)
      if (finals.includes(s.state)) {
        source.close()
        setTimeout(open, 5000)
      }
    })
    source.addEventListener('progress', (e) => {
      const p = JSON.parse(e.data)
      setProgress(p.progress, p.message)
    })
  }
  open()
}

async function redrive(button) {
  let body
  if (button.hasAttribute('data-selection')) {
    const ids = [...document.querySelectorAll('input[name=select]:checked')].map((c) => c.value)
    if (ids.length === 0) return say('Select at least one entry first.', true)
    body = { ids }
  } else {
    body = JSON.parse(button.dataset.body)
  }
  const url = button.dataset.redrive
  const { body: plan } = await api('POST', url, { ...body, dryRun: true })
  const targets = Object.entries(plan.byTarget)
  const toSend = targets.reduce((s, [, n]) => s + n, 0)
  const skipped = []
  if (plan.alreadyRedriven) skipped.push(`${plural(plan.alreadyRedriven, 'was', 'were')} already redriven`)
  if (plan.stubs) skipped.push(`${plural(plan.stubs, 'is a stub', 'are stubs')}`)
  const lines = [
    `Dry run: ${plural(plan.matched, 'entry matches', 'entries match')}.${skipped.length ? ` Skipped: ${skipped.join(', ')}.` : ''}`,
  ]
  if (toSend === 0) {
    await confirmDialog('Nothing to redrive', lines, null)
    return
  }
  lines.push(`${plural(toSend, 'message', 'messages')} will be sent back:`)
  const ok = await confirmDialog(
    'Redrive dead-lettered messages?',
    [...lines.map(paragraph), table(['Target topic', 'Messages'], targets)],
    `Redrive ${plural(toSend, 'message', 'messages')}`,
  )
  if (!ok) return say('Redrive cancelled.')
  const { res, body: job } = await api('POST', url, body)
  const statusUrl = res.headers.get('location') || job.statusUrl
  say('Redriving…')
  for (;;) {
    const { body: now } = await api('GET', statusUrl)
    if (now.state === 'done') {
      say(`Redriven: ${plural(now.result.sent, 'message', 'messages')} sent.`)
      break
    }
    if (now.state === 'failed') throw new Error(`Redrive failed: ${now.error}`)
    await sleep(300)
  }
  await sleep(800)
  window.location.reload()
}

async function action(button) {
  const text = button.dataset.confirm
  if (button.dataset.action === 'cancel') {
    if (!(await confirmDialog('Cancel this task?', 'It will never run. This cannot be undone.', 'Cancel task'))) return
    const { body } = await api('DELETE', button.dataset.url)
    say(body.cancelled ? 'Cancelled.' : 'Not cancelled: it already ran or is running.', !body.cancelled)
  } else {
    if (text && !(await confirmDialog('Are you sure?', text, button.textContent.replace('…', '').trim()))) return
    await api('POST', button.dataset.url, {})
    say('Done.')
  }
  await sleep(600)
  window.location.reload()
}

async function replay(form) {
  const data = new FormData(form)
  const group = String(data.get('group'))
  const body = { topic: String(data.get('topic')) }
  if (data.get('partition') !== '') body.partition = Number(data.get('partition'))
  const start = data.get('start')
  if (start === 'earliest') body.earliest = true
  else if (start === 'offset') body.fromOffset = Number(data.get('fromOffset'))
  else body.fromTime = new Date(`${data.get('fromTime')}Z`).toISOString()
  const url = `/v1/groups/${encodeURIComponent(group)}/reset`
  const { body: plan } = await api('POST', url, { ...body, dryRun: true })
  const rows = plan.partitions.map((p) => [p.partition, p.from === null ? '—' : p.from, p.to, p.messages])
  const total = plan.partitions.reduce((s, p) => s + p.messages, 0)
  const ok = await confirmDialog(
    `Reset ${group} on ${plan.topic}?`,
    [
      paragraph(`Dry run: the group will (re)process ${plural(total, 'message', 'messages')}.`),
      table(['Partition', 'Committed now', 'Moves to', 'Messages'], rows),
    ],
    'Move the offsets',
  )
  const result = document.getElementById('replay-result')
  if (!ok) return say('Reset cancelled: nothing moved.')
  const { body: applied } = await api('POST', url, body)
  result.replaceChildren(
    paragraph(`Moved the offsets of ${applied.group} on ${applied.topic}:`),
    table(
      ['Partition', 'Was', 'Now', 'Messages'],
      applied.partitions.map((p) => [p.partition, p.from === null ? '—' : p.from, p.to, p.messages]),
    ),
  )
  say('Offsets moved.')
}

function guard(fn) {
  return (...args) =>
    fn(...args).catch((err) => {
      say(err.message, true)
    })
}

document.addEventListener('click', (e) => {
  const target = e.target instanceof Element ? e.target : null
  const redriveButton = target && target.closest('[data-redrive]')
  if (redriveButton) return void guard(redrive)(redriveButton)
  const actionButton = target && target.closest('[data-action]')
  if (actionButton) return void guard(action)(actionButton)
})

document.addEventListener('change', (e) => {
  const target = e.target
  if (target instanceof HTMLInputElement && target.hasAttribute('data-select-all')) {
    for (const box of document.querySelectorAll('input[name=select]')) box.checked = target.checked
  }
  if (target instanceof HTMLSelectElement && target.name === 'group' && target.form && target.form.hasAttribute('data-replay')) {
    const topic = target.selectedOptions[0] && target.selectedOptions[0].dataset.topic
    if (topic) target.form.elements.namedItem('topic').value = topic
  }
})

document.addEventListener('submit', (e) => {
  const form = e.target
  if (form instanceof HTMLFormElement && form.hasAttribute('data-replay')) {
    e.preventDefault()
    void guard(replay)(form)
  }
})

liveRefresh()
followTask()
