// What the bundle gets for `require('debug')` (build.mjs): mqtt-packet, MQTT.js and @platformatic/kafka
// call their `debug` loggers several times per packet, and even when they print nothing each call runs
// debug's enabled getter: 2 % of the main thread's busy time under MQTT QoS 1 load, 4 % of the mirror
// thread's in a drain (CPU profiles). Without DEBUG in the environment (read once at start, as debug
// itself does) every logger is one shared empty function V8 can inline; with DEBUG set, the real debug
// module runs as usual (DEBUG=mqtt-packet:*,mqttjs* node dist/tributary.mjs start).
'use strict';

if (process.env.DEBUG) {
  module.exports = require('debug/src/index.js');
} else {
  const quiet = () => {};
  quiet.enabled = false;
  quiet.namespace = '';
  quiet.log = quiet;
  quiet.destroy = () => true;
  quiet.extend = () => quiet;
  const createDebug = () => quiet;
  createDebug.enable = () => {};
  createDebug.disable = () => '';
  createDebug.enabled = () => false;
  createDebug.names = [];
  createDebug.skips = [];
  createDebug.formatters = {};
  createDebug.debug = createDebug;
  createDebug.default = createDebug;
  module.exports = createDebug;
}
