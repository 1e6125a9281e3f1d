// "Probe now": asks the agents, through the same API as `burnwatch probe`, to attach the costly
// Go probes (client calls, SQL/Redis, slow-request breakdowns) to a service for ten minutes.
import { api } from './api.ts';
import { h } from './dom.ts';

export const PROBE_FOR = '10m';

export function requestProbes(service: string, forText = PROBE_FOR): Promise<{ request: { service: string; until: string; for: string } }> {
  return api('/v1/probes', {}, undefined, { method: 'POST', body: { service, for: forText } });
}

/** A button and the line that says what came of it (words, not colour). */
export function probeNowButton(service: string): HTMLElement {
  const said = h('span', { class: 'sub', role: 'status', 'aria-live': 'polite' });
  const button = h(
    'button',
    {
      type: 'button',
      title: `Attach the deep probes to ${service}'s processes for ${PROBE_FOR} (burnwatch probe)`,
      onclick: () => {
        button.disabled = true;
        requestProbes(service)
          .then(({ request }) => (said.textContent = ` deep probes requested until ${request.until.slice(11, 19)} UTC; agents attach within about 5 s`))
          .catch((err: Error) => (said.textContent = ` not requested: ${err.message}`))
          .finally(() => (button.disabled = false));
      },
    },
    `Probe ${service} now (${PROBE_FOR})`,
  );
  return h('p', { class: 'probe-now' }, button, said);
}
