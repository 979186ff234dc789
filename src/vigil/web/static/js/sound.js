import { t } from "./core.js";
// Browsers play no sound before a gesture on the page: the operator clicks "Enable sound" once per page
// load, and the page says so while sound is off.
const sound = { context: null };
export function enableSound() {
  try {
    sound.context = sound.context || new (window.AudioContext || window.webkitAudioContext)();
    sound.context.onstatechange = showSound;
    sound.context.resume().then(showSound, showSound);
  } catch (e) { sound.context = null; }
  showSound();
}
function soundOn() { return sound.context !== null && sound.context.state === "running"; }
// Pages without the Live page's sound controls (the field view turns sound on with the first tap) just
// skip showing it: the field page threw three errors on its first tap looking for them.
export function showSound() {
  const on = soundOn(), state = document.getElementById("sound-state"), button = document.getElementById("enable-sound");
  if (state) { state.textContent = on ? t("Sound on") : t("Sound is off"); state.classList.toggle("warning", !on); }
  if (button) button.hidden = on;
}
export function beep() {
  if (!soundOn()) { showSound(); return; }
  const osc = sound.context.createOscillator(); osc.frequency.value = 880; osc.connect(sound.context.destination);
  osc.start(); osc.stop(sound.context.currentTime + 0.25);
}
// An escalation (nobody acknowledged the red flag in time): louder, longer, three pulses.
export function alarm() {
  if (!soundOn()) { showSound(); return; }
  const start = sound.context.currentTime;
  for (let i = 0; i < 3; i++) {
    const osc = sound.context.createOscillator(), gain = sound.context.createGain();
    osc.type = "square"; osc.frequency.value = 1320; gain.gain.value = 1.0;
    osc.connect(gain); gain.connect(sound.context.destination);
    osc.start(start + i * 0.4); osc.stop(start + i * 0.4 + 0.3);
  }
  window.vigilAlarms = (window.vigilAlarms || 0) + 1;
}
