/** FNV-1a over a string's UTF-16 code units: the shard of a first level, the slot of a cached topic. */
export function fnv1a (text: string): number {
  let h = 0x811c9dc5
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i)
    h = Math.imul(h, 0x01000193)
  }
  return h >>> 0
}
