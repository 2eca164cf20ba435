/**
 * The conversion under way, if any. Whatever would replace the image it reads (another file
 * opened, the tab closed) asks first, and cancels it openly rather than leave it running unseen.
 */
class ActiveJob {
  /** What the job converts, and how to stop it; null when nothing runs. */
  current = $state.raw<{ name: string; cancel: () => Promise<void> } | null>(null);
}

export const activeJob = new ActiveJob();
