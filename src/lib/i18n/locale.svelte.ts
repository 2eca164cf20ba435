/**
 * The page's language: English or Vietnamese, from the browser's languages unless the user chose
 * one (remembered in localStorage). Components read `locale.m`, a typed dictionary, so a string
 * missing in one language is a type error, not a blank on screen.
 */
import { en, type Messages } from './en.ts';
import { vi } from './vi.ts';

export type Lang = 'en' | 'vi';
export const LANGS: Record<Lang, Messages> = { en, vi };
const STORAGE_KEY = 'diskimg.lang';

function initialLang(): Lang {
  try {
    const saved = localStorage.getItem(STORAGE_KEY);
    if (saved === 'en' || saved === 'vi') return saved;
  } catch {
    // Storage may be disabled (a locked-down profile): fall back to the browser's languages.
  }
  for (const tag of navigator.languages ?? [navigator.language]) {
    const base = tag.toLowerCase().split('-')[0];
    if (base === 'vi' || base === 'en') return base;
  }
  return 'en';
}

class Locale {
  lang = $state<Lang>(initialLang());

  get m(): Messages {
    return LANGS[this.lang];
  }

  set(lang: Lang): void {
    this.lang = lang;
    document.documentElement.lang = lang;
    try {
      localStorage.setItem(STORAGE_KEY, lang);
    } catch {
      // Not remembered; the choice still holds for this visit.
    }
  }
}

export const locale = new Locale();
