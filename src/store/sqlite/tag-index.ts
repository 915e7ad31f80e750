// The tag index's rules are pure and live in the protocol layer, where the verification pool computes
// each event's tag rows; the store's readers, writer and migrations take them from here.
export { INDEXED_MULTI_LETTER_TAGS, isIndexedTag, tagKeyOf, tagKeys, tagRows, tagValueKey, type TagRow } from '../../protocol/tag-index.js';
