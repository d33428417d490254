// Glossary terms per chatbot (seed 000): a question that uses a term or one of its synonyms is expanded with the
// term for retrieval, and the definitions are given to the model.

import type { GlossaryTerm } from './chatbots.ts';

export interface GlossaryMatch {
  /** Terms the question mentions, by name or synonym, in glossary order. */
  terms: GlossaryTerm[];
  /** Words to add to the search query: the terms (and synonyms) the question did not spell out. */
  expansion: string[];
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/gu, '\\$&');
}

/** Whole-word, case-insensitive occurrence (so "SLA" does not match "slate"). */
function mentions(question: string, phrase: string): boolean {
  const trimmed = phrase.trim();
  if (trimmed === '') return false;
  return new RegExp(`(?<![\\p{L}\\p{N}])${escapeRegExp(trimmed)}(?![\\p{L}\\p{N}])`, 'iu').test(question);
}

export function matchGlossary(question: string, glossary: readonly GlossaryTerm[]): GlossaryMatch {
  const terms: GlossaryTerm[] = [];
  const expansion: string[] = [];
  for (const entry of glossary) {
    const synonyms = entry.synonyms ?? [];
    const byTerm = mentions(question, entry.term);
    const bySynonym = synonyms.some((synonym) => mentions(question, synonym));
    if (!byTerm && !bySynonym) continue;
    terms.push(entry);
    for (const phrase of [entry.term, ...synonyms]) {
      if (!mentions(question, phrase)) expansion.push(phrase);
    }
  }
  return { terms, expansion };
}
