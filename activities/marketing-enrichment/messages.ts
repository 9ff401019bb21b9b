// The prompt that goes out, the check of what comes back, and the offline provider's template messages.
import type { Interest } from '../../lib/contracts/marketing-enrichment';

export interface CustomerForPrompt {
  id: string;
  name: string;
  interest: Interest;
  city: string | null;
}

export interface PromptSettings {
  template: string;
  maxWords: number;
  tone: string;
}

/** Only what the message needs goes to the model: first name, interest and city; never e-mail or full name. */
export function renderPrompt(prompt: PromptSettings, customers: CustomerForPrompt[]): string {
  const list = customers.map((c) => ({ id: c.id, nome: firstName(c.name), interesse: c.interest, cidade: c.city ?? undefined }));
  return prompt.template
    .replaceAll('{maxWords}', String(prompt.maxWords))
    .replaceAll('{tone}', prompt.tone)
    .replaceAll('{customers}', JSON.stringify(list));
}

export const firstName = (name: string): string => name.trim().split(/\s+/)[0];

export const countWords = (message: string): number => message.trim().split(/\s+/).filter(Boolean).length;

export interface CheckedAnswer {
  accepted: Map<string, string>;
  /** Customers with no usable message, and why. */
  problems: Map<string, string>;
}

/** Keeps each requested id's single, non-empty, short-enough message; everything else is a problem. */
export function checkAnswer(text: string, requestedIds: string[], maxWords: number): CheckedAnswer {
  const accepted = new Map<string, string>();
  const problems = new Map<string, string>();
  let items: unknown;
  try {
    items = JSON.parse(text);
  } catch {
    for (const id of requestedIds) problems.set(id, 'the model\'s answer was not valid JSON');
    return { accepted, problems };
  }
  if (!Array.isArray(items)) {
    for (const id of requestedIds) problems.set(id, 'the model\'s answer was not a JSON list');
    return { accepted, problems };
  }
  const messages = new Map<string, string[]>();
  for (const item of items as { id?: unknown; message?: unknown }[]) {
    if (typeof item?.id !== 'string' || typeof item.message !== 'string') continue;
    messages.set(item.id, [...(messages.get(item.id) ?? []), item.message.trim()]);
  }
  for (const id of requestedIds) {
    const found = messages.get(id) ?? [];
    const words = found.length === 1 ? countWords(found[0]) : 0;
    if (found.length === 0) problems.set(id, 'the model\'s answer had no message for this customer');
    else if (found.length > 1) problems.set(id, `the model's answer had ${found.length} messages for this customer`);
    else if (words === 0) problems.set(id, 'the model returned an empty message');
    else if (words > maxWords) problems.set(id, `the message had ${words} words; the limit is ${maxWords}`);
    else accepted.set(id, found[0]);
  }
  return { accepted, problems };
}

const OFFLINE_TEMPLATES: Record<Interest, string> = {
  Cripto: '{nome}, explore cripto com segurança e comece hoje mesmo!',
  FIIs: '{nome}, receba renda mensal com FIIs selecionados para você.',
  'Ações': '{nome}, invista em ações das melhores empresas do Brasil.',
  'Tesouro Direto': '{nome}, Tesouro Direto: segurança e rentabilidade para seu futuro.',
  'Renda Fixa': '{nome}, renda fixa com ótimas taxas espera por você.',
};

/** The offline provider: a fixed message per interest, personalised with the first name. No AI involved. */
export function offlineMessage(customer: CustomerForPrompt): string {
  return OFFLINE_TEMPLATES[customer.interest].replace('{nome}', firstName(customer.name));
}
