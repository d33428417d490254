// Plain-text loader: one section of paragraphs (blank-line separated), spacing tidied, line breaks kept.
import { decodeText, tidy, type FormatLoader } from './shared.ts';

export const loadText: FormatLoader = (bytes, fileName) => ({
  sections: [{ heading: [], text: tidy(decodeText(bytes, fileName)) }],
});
