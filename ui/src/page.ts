import type { Overview } from './api';

/** A routed view: built once per navigation, refreshed on every poll. */
export interface Page {
  title: string;
  el: HTMLElement;
  /** Called right away and then on each poll with the latest /api/overview. */
  refresh(overview: Overview): Promise<void>;
  dispose?(): void;
}
