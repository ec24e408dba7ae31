// i18n.js: the client's English and Dutch strings and the code that puts them on the page.
'use strict';

const strings = {
  en: {
    skip: 'Skip to content',
    language: 'Language',
    'start.title': 'Talk to a stranger',
    'start.about': 'parley pairs you with someone you don\'t know, for a one-to-one chat by text or video. What you say goes straight to the other person\'s browser, encrypted. The server never sees it and keeps no transcript.',
    'start.privacyLink': 'How parley handles your data',
    'start.mode': 'Who do you want to meet?',
    'mode.random': 'Anyone',
    'mode.randomHelp': 'A random stranger.',
    'mode.opposite': 'Someone who thinks differently',
    'mode.oppositeHelp': 'A person with another political preference, and a statement to discuss.',
    'mode.interests': 'Shared interests',
    'mode.interestsHelp': 'Someone who likes what you like, or anyone after a few seconds.',
    'start.media': 'How?',
    'media.text': 'Text',
    'media.video': 'Video',
    'start.name': 'Your name (optional)',
    'start.nameHelp': 'Letters, digits, spaces and - _ . \' only; up to 32.',
    'start.preference': 'Your political preference',
    'start.preferenceConsent': 'I explicitly consent to parley using my political preference to find me a partner. It is held in memory only while I wait, and never stored.',
    'start.interests': 'Your interests, separated by commas',
    'start.interestsHelp': 'Up to 5, e.g. chess, jazz, hiking.',
    'start.hideIP': 'Hide my IP address',
    'start.hideIPHelp': 'All traffic then goes through this server\'s relay: a little more delay, and the relay\'s operator sees the encrypted traffic pass (never its content). Otherwise your browsers connect directly and the other person could learn your IP address.',
    'start.consents': 'Before you start',
    'start.consent': 'I have read how parley handles my data and agree to it.',
    'start.adult': 'I am 18 or older.',
    'start.go': 'Start chatting',
    'form.consent': 'Please agree to the privacy notice to continue.',
    'form.adult': 'parley is for adults only: please confirm you are 18 or older.',
    'form.preferenceConsent': 'To meet someone who thinks differently, choose your preference and give your separate consent to use it.',
    'form.name': 'Your name may only have letters, digits, spaces and - _ . \' (up to 32).',
    'form.interests': 'Give up to 5 interests of up to 32 letters, digits, spaces or dashes each.',
    'form.interestsNone': 'Give at least one interest, or choose another mode.',
    'form.connecting': 'Still connecting to the server, one moment…',
    'queue.title': 'Looking for someone…',
    'queue.help': 'This can take a moment. Keep this tab open.',
    'queue.cancel': 'Cancel',
    'queue.partnerNext': 'The stranger moved on. Looking for someone new…',
    'queue.youNext': 'Looking for someone new…',
    'chat.with': 'Talking with',
    'chat.stranger': 'a stranger',
    'chat.statement': 'Statement to discuss:',
    'chat.shared': 'You both like:',
    'chat.remoteVideo': 'The stranger\'s video',
    'chat.localVideo': 'Your camera',
    'chat.mute': 'Mute',
    'chat.unmute': 'Unmute',
    'chat.cameraOff': 'Camera off',
    'chat.cameraOn': 'Camera on',
    'chat.transcript': 'Messages',
    'chat.typing': 'The stranger is typing…',
    'chat.message': 'Message',
    'chat.placeholder': 'Type a message',
    'chat.send': 'Send',
    'chat.next': 'Next',
    'chat.nextLabel': 'Next stranger (Escape)',
    'chat.end': 'End',
    'chat.report': 'Report',
    'chat.safety': 'Safety code',
    'chat.safetyHelp': 'If you know this person through another channel (a phone call, in person), compare this code there. If you both see the same code, nobody is listening in between your browsers.',
    'chat.again': 'Find someone new',
    'chat.home': 'Back to start',
    'chat.you': 'You',
    'chat.them': 'Stranger',
    'chat.newMessage': '{name}: {text}',
    'chat.matched': 'You are now talking with {name}.',
    'chat.cameraError': 'Your camera or microphone could not be used. You can still chat by text.',
    'state.connecting': 'Connecting…',
    'state.direct': 'Connected directly',
    'state.relay': 'Connected through the relay',
    'state.reconnecting': 'Reconnecting…',
    'state.partnerReconnecting': 'The stranger is reconnecting…',
    'state.failed': 'The connection failed',
    'state.server': 'Reconnecting to the server…',
    'state.ended': 'Chat ended',
    'left.next': 'The stranger moved on.',
    'left.leave': 'The stranger ended the chat.',
    'left.gone': 'The stranger lost the connection and did not come back.',
    'left.banned': 'The stranger was banned.',
    'left.you': 'You ended the chat.',
    'left.reported': 'Thank you. The report was sent and the chat has ended; you will not meet this person again.',
    'report.title': 'Report this person',
    'report.help': 'The chat ends and you will not meet this person again.',
    'report.reason': 'Reason',
    'report.abuse': 'Abuse or harassment',
    'report.spam': 'Spam',
    'report.illegal': 'Illegal content',
    'report.other': 'Something else',
    'report.confirm': 'Report and end chat',
    'report.cancel': 'Cancel',
    'banned.title': 'You are banned',
    'banned.until': 'Several people reported you, so this address cannot use parley until {date}.',
    'banned.privacy': 'How reports and bans work',
    'closed.title': 'Disconnected',
    'closed.takenOver': 'parley was opened in another tab or window. Only one can be active at a time.',
    'closed.policy': 'The server closed the connection because of too many invalid or too frequent messages.',
    'closed.tooLarge': 'The server closed the connection because a message was too large.',
    'closed.gone': 'The connection to the server was lost.',
    'closed.reload': 'Connect again',
    'error.bad_message': 'The server could not read a message from this page. Please reload.',
    'error.unknown_type': 'The server did not understand a request from this page. Please reload.',
    'error.bad_version': 'This page is out of date for the server. Please reload.',
    'error.not_hello': 'The connection was not set up properly. Please reload.',
    'error.already_hello': 'The connection was set up twice. Please reload.',
    'error.consent_required': 'Please give the required consents and confirm you are 18 or older.',
    'error.bad_mode': 'That way of meeting people is not available.',
    'error.bad_media': 'Choose text or video.',
    'error.bad_name': 'Your name may only have letters, digits, spaces and - _ . \' (up to 32).',
    'error.bad_interests': 'Give up to 5 interests of up to 32 letters, digits, spaces or dashes each.',
    'error.bad_preference': 'Choose one of the political preferences in the list.',
    'error.not_paired': 'You are not in a chat right now.',
    'error.not_queued': 'You are not waiting for anyone right now.',
    'error.bad_signal': 'Setting up the connection failed. Try the next stranger.',
    'error.bad_sdp': 'Setting up the connection failed. Try the next stranger.',
    'error.bad_candidate': 'A connection route was refused. The chat may still connect.',
    'error.bad_reason': 'Choose a reason for your report.',
    'error.no_such_peer': 'That person is no longer in this chat.',
    'error.signal_budget': 'The connection is being set up too often. Wait a little, then try the next stranger.',
    'error.nothing_to_report': 'There is nobody to report: you were not in a chat in the last few minutes.',
    'error.rate_limited': 'Slow down a little, and try again in a moment.',
    'error.too_large': 'That was too large to send.',
    'error.banned': 'This address is banned.',
    'error.internal': 'Something went wrong on the server. Please try again.',
    'error.unknown': 'Something went wrong ({code}).',
  },
  nl: {
    skip: 'Naar de inhoud',
    language: 'Taal',
    'start.title': 'Praat met een onbekende',
    'start.about': 'parley koppelt je aan iemand die je niet kent, voor een gesprek onder vier ogen via tekst of video. Wat je zegt gaat versleuteld rechtstreeks naar de browser van de ander. De server ziet het nooit en bewaart geen gespreksverslag.',
    'start.privacyLink': 'Hoe parley met je gegevens omgaat',
    'start.mode': 'Wie wil je ontmoeten?',
    'mode.random': 'Iedereen',
    'mode.randomHelp': 'Een willekeurige onbekende.',
    'mode.opposite': 'Iemand die er anders over denkt',
    'mode.oppositeHelp': 'Iemand met een andere politieke voorkeur, en een stelling om over te praten.',
    'mode.interests': 'Gedeelde interesses',
    'mode.interestsHelp': 'Iemand die houdt van wat jij leuk vindt, of na een paar seconden iedereen.',
    'start.media': 'Hoe?',
    'media.text': 'Tekst',
    'media.video': 'Video',
    'start.name': 'Je naam (niet verplicht)',
    'start.nameHelp': 'Alleen letters, cijfers, spaties en - _ . \'; hoogstens 32.',
    'start.preference': 'Je politieke voorkeur',
    'start.preferenceConsent': 'Ik geef uitdrukkelijk toestemming dat parley mijn politieke voorkeur gebruikt om een partner te zoeken. Die blijft alleen in het geheugen zolang ik wacht en wordt nooit opgeslagen.',
    'start.interests': 'Je interesses, gescheiden door komma\'s',
    'start.interestsHelp': 'Hoogstens 5, bijvoorbeeld schaken, jazz, wandelen.',
    'start.hideIP': 'Verberg mijn IP-adres',
    'start.hideIPHelp': 'Al het verkeer gaat dan via de relay van deze server: iets meer vertraging, en de beheerder van de relay ziet het versleutelde verkeer voorbijkomen (nooit de inhoud). Anders verbinden jullie browsers rechtstreeks en kan de ander je IP-adres te weten komen.',
    'start.consents': 'Voor je begint',
    'start.consent': 'Ik heb gelezen hoe parley met mijn gegevens omgaat en ga daarmee akkoord.',
    'start.adult': 'Ik ben 18 jaar of ouder.',
    'start.go': 'Begin met praten',
    'form.consent': 'Ga akkoord met de privacyverklaring om verder te gaan.',
    'form.adult': 'parley is alleen voor volwassenen: bevestig dat je 18 of ouder bent.',
    'form.preferenceConsent': 'Om iemand te ontmoeten die er anders over denkt, kies je voorkeur en geef je aparte toestemming om die te gebruiken.',
    'form.name': 'Je naam mag alleen letters, cijfers, spaties en - _ . \' bevatten (hoogstens 32).',
    'form.interests': 'Geef hoogstens 5 interesses van hoogstens 32 letters, cijfers, spaties of streepjes.',
    'form.interestsNone': 'Geef minstens één interesse, of kies een andere manier.',
    'form.connecting': 'Nog bezig met verbinden met de server, een ogenblik…',
    'queue.title': 'Op zoek naar iemand…',
    'queue.help': 'Dit kan even duren. Houd dit tabblad open.',
    'queue.cancel': 'Annuleren',
    'queue.partnerNext': 'De ander is doorgegaan. We zoeken iemand nieuws…',
    'queue.youNext': 'We zoeken iemand nieuws…',
    'chat.with': 'In gesprek met',
    'chat.stranger': 'een onbekende',
    'chat.statement': 'Stelling:',
    'chat.shared': 'Jullie houden allebei van:',
    'chat.remoteVideo': 'Video van de ander',
    'chat.localVideo': 'Je camera',
    'chat.mute': 'Microfoon uit',
    'chat.unmute': 'Microfoon aan',
    'chat.cameraOff': 'Camera uit',
    'chat.cameraOn': 'Camera aan',
    'chat.transcript': 'Berichten',
    'chat.typing': 'De ander is aan het typen…',
    'chat.message': 'Bericht',
    'chat.placeholder': 'Typ een bericht',
    'chat.send': 'Verstuur',
    'chat.next': 'Volgende',
    'chat.nextLabel': 'Volgende onbekende (Escape)',
    'chat.end': 'Stoppen',
    'chat.report': 'Melden',
    'chat.safety': 'Veiligheidscode',
    'chat.safetyHelp': 'Ken je deze persoon via een ander kanaal (telefoon, in het echt), vergelijk deze code dan daar. Zien jullie allebei dezelfde code, dan luistert niemand mee tussen jullie browsers.',
    'chat.again': 'Zoek iemand nieuws',
    'chat.home': 'Terug naar het begin',
    'chat.you': 'Jij',
    'chat.them': 'Onbekende',
    'chat.newMessage': '{name}: {text}',
    'chat.matched': 'Je bent nu in gesprek met {name}.',
    'chat.cameraError': 'Je camera of microfoon kon niet worden gebruikt. Je kunt nog wel tekstberichten sturen.',
    'state.connecting': 'Verbinden…',
    'state.direct': 'Rechtstreeks verbonden',
    'state.relay': 'Verbonden via de relay',
    'state.reconnecting': 'Opnieuw verbinden…',
    'state.partnerReconnecting': 'De ander maakt opnieuw verbinding…',
    'state.failed': 'De verbinding is mislukt',
    'state.server': 'Opnieuw verbinden met de server…',
    'state.ended': 'Gesprek beëindigd',
    'left.next': 'De ander is doorgegaan.',
    'left.leave': 'De ander heeft het gesprek beëindigd.',
    'left.gone': 'De verbinding met de ander is verbroken en kwam niet terug.',
    'left.banned': 'De ander is geblokkeerd.',
    'left.you': 'Je hebt het gesprek beëindigd.',
    'left.reported': 'Bedankt. De melding is verstuurd en het gesprek is beëindigd; je komt deze persoon niet meer tegen.',
    'report.title': 'Deze persoon melden',
    'report.help': 'Het gesprek stopt en je komt deze persoon niet meer tegen.',
    'report.reason': 'Reden',
    'report.abuse': 'Misbruik of intimidatie',
    'report.spam': 'Spam',
    'report.illegal': 'Illegale inhoud',
    'report.other': 'Iets anders',
    'report.confirm': 'Melden en gesprek beëindigen',
    'report.cancel': 'Annuleren',
    'banned.title': 'Je bent geblokkeerd',
    'banned.until': 'Meerdere mensen hebben je gemeld, daarom kan dit adres parley niet gebruiken tot {date}.',
    'banned.privacy': 'Hoe meldingen en blokkades werken',
    'closed.title': 'Verbinding verbroken',
    'closed.takenOver': 'parley is in een ander tabblad of venster geopend. Er kan er maar één tegelijk actief zijn.',
    'closed.policy': 'De server heeft de verbinding verbroken wegens te veel ongeldige of te snelle berichten.',
    'closed.tooLarge': 'De server heeft de verbinding verbroken omdat een bericht te groot was.',
    'closed.gone': 'De verbinding met de server is verbroken.',
    'closed.reload': 'Opnieuw verbinden',
    'error.bad_message': 'De server kon een bericht van deze pagina niet lezen. Herlaad de pagina.',
    'error.unknown_type': 'De server begreep een verzoek van deze pagina niet. Herlaad de pagina.',
    'error.bad_version': 'Deze pagina is verouderd voor de server. Herlaad de pagina.',
    'error.not_hello': 'De verbinding is niet goed opgezet. Herlaad de pagina.',
    'error.already_hello': 'De verbinding is twee keer opgezet. Herlaad de pagina.',
    'error.consent_required': 'Geef de vereiste toestemming en bevestig dat je 18 of ouder bent.',
    'error.bad_mode': 'Die manier om mensen te ontmoeten is niet beschikbaar.',
    'error.bad_media': 'Kies tekst of video.',
    'error.bad_name': 'Je naam mag alleen letters, cijfers, spaties en - _ . \' bevatten (hoogstens 32).',
    'error.bad_interests': 'Geef hoogstens 5 interesses van hoogstens 32 letters, cijfers, spaties of streepjes.',
    'error.bad_preference': 'Kies een van de politieke voorkeuren uit de lijst.',
    'error.not_paired': 'Je bent nu niet in gesprek.',
    'error.not_queued': 'Je wacht nu niet op iemand.',
    'error.bad_signal': 'Het opzetten van de verbinding is mislukt. Probeer de volgende.',
    'error.bad_sdp': 'Het opzetten van de verbinding is mislukt. Probeer de volgende.',
    'error.bad_candidate': 'Een verbindingsroute is geweigerd. Het gesprek kan nog steeds verbinden.',
    'error.bad_reason': 'Kies een reden voor je melding.',
    'error.no_such_peer': 'Die persoon is niet meer in dit gesprek.',
    'error.signal_budget': 'De verbinding wordt te vaak opnieuw opgezet. Wacht even en probeer dan de volgende.',
    'error.nothing_to_report': 'Er is niemand om te melden: je was de afgelopen minuten niet in gesprek.',
    'error.rate_limited': 'Doe het iets rustiger aan en probeer het zo opnieuw.',
    'error.too_large': 'Dat was te groot om te versturen.',
    'error.banned': 'Dit adres is geblokkeerd.',
    'error.internal': 'Er ging iets mis op de server. Probeer het opnieuw.',
    'error.unknown': 'Er ging iets mis ({code}).',
  },
};

// The protocol's error codes: every one has a message in both languages (the e2e tests compare this
// list with the server's codes).
export const errorCodes = [
  'bad_message', 'unknown_type', 'bad_version', 'not_hello', 'already_hello', 'consent_required', 'bad_mode', 'bad_media',
  'bad_name', 'bad_interests', 'bad_preference', 'not_paired', 'not_queued', 'bad_signal', 'bad_sdp',
  'bad_candidate', 'no_such_peer', 'signal_budget', 'bad_reason', 'nothing_to_report', 'rate_limited', 'too_large',
  'banned', 'internal',
];

export const languages = Object.keys(strings);

const storageKey = 'parley.lang';
let current = 'en';

/** detect picks the stored choice, else the first of navigator.languages we speak, else English. */
export function detect() {
  let saved = null;
  try { saved = sessionStorage.getItem(storageKey); } catch { /* storage may be disabled */ }
  if (saved && strings[saved]) return saved;
  const prefs = navigator.languages && navigator.languages.length ? navigator.languages : [navigator.language || 'en'];
  for (const tag of prefs) {
    const base = String(tag).toLowerCase().split('-')[0];
    if (strings[base]) return base;
  }
  return 'en';
}

export function lang() { return current; }

/** t returns the string for key in the current language with {name} placeholders filled in. */
export function t(key, params = {}) {
  const s = strings[current][key] ?? strings.en[key] ?? key;
  return s.replace(/\{(\w+)\}/g, (m, name) => (name in params ? String(params[name]) : m));
}

/** errorMessage gives the translated text for a protocol error code, never the server's English text. */
export function errorMessage(code) {
  const key = 'error.' + code;
  if (strings.en[key]) return t(key);
  return t('error.unknown', { code: String(code).slice(0, 40) });
}

/** setLang switches the language and re-labels every element that carries a data-i18n attribute. */
export function setLang(l, root = document) {
  if (!strings[l]) return;
  current = l;
  try { sessionStorage.setItem(storageKey, l); } catch { /* ignore */ }
  document.documentElement.lang = l;
  for (const el of root.querySelectorAll('[data-i18n]')) el.textContent = t(el.dataset.i18n);
  for (const el of root.querySelectorAll('[data-i18n-placeholder]')) el.placeholder = t(el.dataset.i18nPlaceholder);
  for (const el of root.querySelectorAll('[data-i18n-aria-label]')) el.setAttribute('aria-label', t(el.dataset.i18nAriaLabel));
  for (const b of root.querySelectorAll('button[data-lang]')) b.setAttribute('aria-pressed', String(b.dataset.lang === l));
}

/** has reports whether there is an English string for key. */
export function has(key) { return key in strings.en; }

/** missing lists the keys a language lacks (used by the e2e tests through the page). */
export function missing() {
  const out = [];
  for (const l of languages) {
    for (const k of Object.keys(strings.en)) if (!(k in strings[l])) out.push(l + ':' + k);
    for (const c of errorCodes) if (!strings[l]['error.' + c]) out.push(l + ':error.' + c);
  }
  return out;
}
