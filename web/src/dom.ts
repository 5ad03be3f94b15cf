/** Tiny DOM helpers: the page builds its elements with `h` and finds its fixed ones with `byId`. */

type Child = Node | string | number | null | undefined | false

/** An element with attributes (`class`, `data-*`, …) and children (strings become text nodes). */
export function h<K extends keyof HTMLElementTagNameMap> (tag: K, attributes: Record<string, string> = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag)
  for (const [name, value] of Object.entries(attributes)) element.setAttribute(name, value)
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue
    element.append(typeof child === 'object' ? child : String(child))
  }
  return element
}

/** The page's element with this id, of the expected kind; throws when the page lacks it. */
export function byId<T extends HTMLElement> (id: string, kind: new () => T): T {
  const element = document.getElementById(id)
  if (!(element instanceof kind)) throw new Error(`the page has no ${kind.name} #${id}`)
  return element
}

/** Replaces the children of `parent`. */
export function fill (parent: Element, ...children: Child[]): void {
  parent.replaceChildren()
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue
    parent.append(typeof child === 'object' ? child : String(child))
  }
}

/** A log or watch list: appends a row, keeping at most `max` (the oldest leave). */
export function appendBounded (list: Element, row: Element, max: number): void {
  const atBottom = list.scrollTop + list.clientHeight >= list.scrollHeight - 4
  list.append(row)
  while (list.childElementCount > max) list.firstElementChild?.remove()
  if (atBottom) list.scrollTop = list.scrollHeight
}

/** `1234567` → `1.2M`. */
export function compact (value: number): string {
  return new Intl.NumberFormat('en', { notation: 'compact', maximumFractionDigits: 1 }).format(value)
}

/** Seconds as `3d 4h`, `5h 2m`, `7m 3s`. */
export function duration (seconds: number): string {
  const d = Math.floor(seconds / 86400)
  const hrs = Math.floor(seconds / 3600) % 24
  const m = Math.floor(seconds / 60) % 60
  const s = seconds % 60
  if (d > 0) return `${d}d ${hrs}h`
  if (hrs > 0) return `${hrs}h ${m}m`
  return m > 0 ? `${m}m ${s}s` : `${s}s`
}
