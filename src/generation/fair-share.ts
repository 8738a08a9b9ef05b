import { Injectable } from '@nestjs/common';
import { AppConfig } from '../config/app-config';
import { UsersService } from '../users/users.service';

/**
 * The fair-share rule: a request's standing is its requester's balance (contributions − usage, clamped
 * to ±FAIR_SHARE_BALANCE_CAP) plus FAIR_SHARE_AGING_PER_SECOND for every second it waits. The aging
 * term grows alike for every waiting request, so the order is that of balance − aging × creation time,
 * fixed when the request is made: that is the `priority` the queue serves by (higher first).
 */
@Injectable()
export class FairShare {
  constructor(
    private readonly users: UsersService,
    private readonly config: AppConfig,
  ) {}

  async priorityFor(username: string, now: number): Promise<number> {
    const user = await this.users.findByUsername(username);
    return fairSharePriority(user ? user.contributions - user.usage : 0, now, this.config);
  }
}

/** The rule itself, for a balance at a time (ms since the epoch). */
export function fairSharePriority(balance: number, now: number, settings: Pick<AppConfig, 'FAIR_SHARE_BALANCE_CAP' | 'FAIR_SHARE_AGING_PER_SECOND'>): number {
  const cap = settings.FAIR_SHARE_BALANCE_CAP;
  return Math.max(-cap, Math.min(cap, balance)) - (settings.FAIR_SHARE_AGING_PER_SECOND * now) / 1000;
}
