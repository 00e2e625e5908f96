/* veolab's synchronized video player: one transport for several <video> elements.
 *
 *   const player = VeolabPlayer.create(videos, {bar: element, names: ['Left', 'Right']});
 *   // options: slots (an element per video for its mute/solo buttons), audible (the index of
 *   // the video heard at first; default none), loop, wipeAfter (the element the wipe view
 *   // follows), onWipe (called with true or false as the wipe view opens and closes)
 *   player.play(); player.seek(1.5); player.step(+1); player.setRate(0.5);
 *   player.setLoop(1.0, 2.0); player.setWipe(true); player.times();   // -> [1.5, 1.5]
 *
 * Plain JavaScript with no dependencies and no network: `veolab review` serves this file, and
 * `veolab report` inlines it into its self-contained page. Used by both, so it knows nothing
 * about either page; the page gives it the videos and an element to build the transport bar in.
 *
 * How the videos stay together: the longest video is the leader and its currentTime is the clock.
 * Every play and every seek first pauses all videos, seeks them to the same time and waits until
 * each can play, then starts them in one task. While playing, each animation frame compares each
 * follower with the leader: a follower off by more than 0.25 s is seeked; a smaller drift is
 * corrected by nudging its playbackRate (8 x the drift per second, in steps of 5 %, at most
 * +-50 %: 20 ms behind plays at 1.15x until caught up), which keeps the sound continuous; a
 * muted follower is resampled rather than time-stretched (preservesPitch off: less work, and
 * under load fewer audio stalls, the cause of most drift). The
 * leader is the longest video, and of equally long ones the one you hear, so the sound you hear
 * is never nudged. A video that stalls (waiting for data) holds the others until it can play
 * again, then they restart together. Frame steps are 1/24 s (Veo's frame rate).
 */
(function (global) {
  'use strict';

  var FPS = 24;
  var FRAME = 1 / FPS;
  var RESYNC = 0.25; // seconds of drift that a rate nudge would take too long to absorb
  var GAIN = 8; // rate correction per second of drift
  var MAX_NUDGE = 0.5;
  var DEAD_BAND = 0.004;
  var RATE_STEP = 0.05; // below this, no nudge: the rate stays exactly the chosen speed
  var STALL_GRACE = 250; // ms a video may wait for data before the others hold for it
  var SPEEDS = [0.25, 0.5, 1, 1.5, 2];
  var players = [];
  var active = null;

  function el(tag, cls, text, attrs) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text != null) e.textContent = text;
    if (attrs) Object.keys(attrs).forEach(function (k) { e.setAttribute(k, attrs[k]); });
    return e;
  }

  function button(text, title, onClick, cls) {
    var b = el('button', 'vp-btn' + (cls ? ' ' + cls : ''), text, {type: 'button', title: title});
    b.addEventListener('click', function (ev) { ev.preventDefault(); onClick(ev); });
    return b;
  }

  function clamp(x, lo, hi) { return Math.max(lo, Math.min(hi, x)); }

  function fmtTime(t) { return (isFinite(t) ? t : 0).toFixed(3); }

  function frameOf(t) { return Math.floor(t * FPS + 1e-3); }

  function whenSeeked(v, timeout) {
    return new Promise(function (done) {
      if (!v.seeking) { done(); return; }
      var timer = setTimeout(finish, timeout);
      function finish() {
        clearTimeout(timer);
        v.removeEventListener('seeked', finish);
        done();
      }
      v.addEventListener('seeked', finish);
    });
  }

  function whenReady(v, timeout) {
    // HAVE_FUTURE_DATA: the video can start without waiting at once
    return new Promise(function (done) {
      if (v.readyState >= 3 || v.error) { done(); return; }
      var timer = setTimeout(finish, timeout);
      function finish() {
        clearTimeout(timer);
        v.removeEventListener('canplay', finish);
        v.removeEventListener('error', finish);
        done();
      }
      v.addEventListener('canplay', finish);
      v.addEventListener('error', finish);
    });
  }

  function Player(videos, opts) {
    opts = opts || {};
    this.videos = Array.prototype.slice.call(videos);
    this.names = opts.names || this.videos.map(function (_, i) { return String(i + 1); });
    this.rate = 1;
    this.intent = 'paused';
    this.loopA = null;
    this.loopB = null;
    this.loopAll = !!opts.loop;
    this.loops = 0; // how many times playback went back to the loop start
    this.wipe = false;
    this.wipePair = [0, Math.min(1, this.videos.length - 1)];
    this.split = 0.5;
    this.maxDrift = 0; // the largest leader-follower gap seen while all were playing
    this._gen = 0; // bumps on every restart, so a superseded one stops
    this._restarting = false;
    this._stallSince = null;
    this._raf = null;
    this._lastUi = 0;
    var audible = opts.audible == null ? -1 : opts.audible;
    var self = this;
    this.videos.forEach(function (v, i) {
      v.controls = false;
      v.loop = false;
      v.preload = 'auto';
      v.playsInline = true;
      v.muted = i !== audible;
      v.addEventListener('play', function () { self._external('play', v); });
      v.addEventListener('pause', function () { self._external('pause', v); });
      v.addEventListener('loadedmetadata', function () { self._ui(true); });
      v.addEventListener('timeupdate', function () { self._tick(); });
      v.addEventListener('volumechange', function () { self._audioUi(); });
      v.addEventListener('click', function () { active = self; self.toggle(); });
    });
    this._build(opts);
    players.push(this);
    if (!active) active = this;
  }

  Player.prototype = {
    leader: function () {
      var ok = this.videos.filter(function (v) { return !v.error && isFinite(v.duration); });
      if (!ok.length) return this.videos[0];
      var longest = Math.max.apply(null, ok.map(function (v) { return v.duration; }));
      var full = ok.filter(function (v) { return v.duration >= longest - FRAME; });
      var heard = full.filter(function (v) { return !v.muted; });
      return heard.length === 1 ? heard[0] : full[0];
    },
    duration: function () {
      var d = this.leader().duration;
      return isFinite(d) ? d : 0;
    },
    time: function () { return this.leader().currentTime; },
    times: function () { return this.videos.map(function (v) { return v.currentTime; }); },
    spread: function () {
      var t = this.times();
      return Math.max.apply(null, t) - Math.min.apply(null, t);
    },
    playing: function () { return this.intent === 'playing'; },

    play: function () {
      this.intent = 'playing';
      var t = this.time();
      var start = this.loopA != null ? this.loopA : 0;
      var end = this.loopB != null ? this.loopB : this.duration();
      if (t >= end - FRAME / 2 || t < (this.loopA != null ? this.loopA : 0)) t = start;
      return this._restart(t);
    },
    pause: function () {
      this.intent = 'paused';
      this._gen++;
      this._restarting = false;
      this._stopLoop();
      this.videos.forEach(function (v) { v.pause(); });
      // followers show the leader's frame once paused
      return this._seekAll(this.time());
    },
    toggle: function () { return this.playing() ? this.pause() : this.play(); },

    seek: function (t) {
      t = clamp(t, 0, this.duration() || t);
      if (this.playing()) return this._restart(t);
      this._gen++;
      return this._seekAll(t);
    },
    step: function (n) {
      var k = frameOf(this.time()) + n;
      var last = Math.max(0, Math.ceil(this.duration() * FPS) - 1);
      k = clamp(k, 0, last);
      if (this.playing()) {
        this.intent = 'paused';
        this._stopLoop();
        this.videos.forEach(function (v) { v.pause(); });
      }
      this._gen++;
      // a little past the frame's start, so rounding cannot show the frame before
      return this._seekAll((k + 0.01) / FPS);
    },
    setRate: function (r) {
      this.rate = r;
      this.videos.forEach(function (v) { v.playbackRate = r; });
      if (this.speedSel) this.speedSel.value = String(r);
    },
    setLoop: function (a, b) {
      if (a != null && b != null && b < a) { var x = a; a = b; b = x; }
      this.loopA = a;
      this.loopB = b;
      this._ui(true);
    },
    setLoopAll: function (on) {
      this.loopAll = !!on;
      if (this.loopBox) this.loopBox.checked = this.loopAll;
    },
    mute: function (i, on) {
      this.videos[i].muted = on == null ? !this.videos[i].muted : !!on;
    },
    solo: function (i) {
      this.videos.forEach(function (v, j) { v.muted = j !== i; });
    },
    setSources: function (srcs) {
      this.pause();
      this.setLoop(null, null);
      this.maxDrift = 0;
      this.loops = 0;
      this.videos.forEach(function (v, i) {
        v.src = srcs[i];
        v.load();
      });
      this._ui(true);
    },

    /* --- keeping them together -------------------------------------------------------- */
    _seekAll: function (t) {
      var self = this;
      this.videos.forEach(function (v) {
        var d = isFinite(v.duration) ? v.duration : t;
        v.currentTime = Math.min(t, d);
      });
      this._ui(true);
      return Promise.all(this.videos.map(function (v) { return whenSeeked(v, 10000); }))
        .then(function () { self._ui(true); });
    },
    _restart: function (t) {
      var self = this;
      var gen = ++this._gen;
      this._restarting = true;
      this._stallSince = null;
      this._stopLoop();
      this.videos.forEach(function (v) { v.pause(); });
      return this._seekAll(t).then(function () {
        return Promise.all(self.videos.map(function (v) { return whenReady(v, 10000); }));
      }).then(function () {
        if (gen !== self._gen || self.intent !== 'playing') return;
        self.videos.forEach(function (v) {
          v.playbackRate = self.rate;
          if (v.currentTime < v.duration) self._start(v);
        });
        self._restarting = false;
        self._loop();
      });
    },
    _start: function (v) {
      var self = this;
      var p = v.play();
      if (p && p.catch) {
        p.catch(function (err) {
          // sound needs a click on the page first: play muted rather than not at all
          if (err && err.name === 'NotAllowedError' && !v.muted) {
            self.videos.forEach(function (w) { w.muted = true; });
            if (self.intent === 'playing') self._start(v);
          }
        });
      }
    },
    _external: function (kind, v) {
      // play or pause from outside the transport (a script, the browser's media keys)
      if (this._restarting) return;
      if (kind === 'play' && this.intent !== 'playing') this.play();
      else if (kind === 'pause' && this.intent === 'playing' && !v.ended && !this._held) {
        if (v.currentTime < v.duration - FRAME) this.pause();
      }
    },
    _loop: function () {
      var self = this;
      if (this._raf != null) return;
      function frame() {
        self._raf = null;
        if (self.intent !== 'playing') return;
        self._tick();
        self._raf = requestAnimationFrame(frame);
      }
      this._raf = requestAnimationFrame(frame);
    },
    _stopLoop: function () {
      if (this._raf != null) cancelAnimationFrame(this._raf);
      this._raf = null;
    },
    _tick: function () {
      if (this.intent !== 'playing' || this._restarting) { this._ui(false); return; }
      var L = this.leader();
      var t = L.currentTime;
      var dur = this.duration();
      var looping = this.loopA != null || this.loopB != null || this.loopAll;
      var end = this.loopB != null ? this.loopB : dur;
      if (looping && (t >= end - FRAME / 4 || L.ended)) {
        this.loops++;
        this._restart(this.loopA != null ? this.loopA : 0);
        return;
      }
      if (L.ended || t >= dur) {
        this.pause();
        return;
      }
      var now = performance.now();
      var stalled = this.videos.some(function (v) {
        return !v.error && !v.ended && v.readyState < 3 && v.currentTime < v.duration - FRAME;
      });
      if (stalled) {
        if (this._stallSince == null) this._stallSince = now;
        if (now - this._stallSince > STALL_GRACE) {
          this._held = true;
          this._restart(t).then(this._unhold.bind(this), this._unhold.bind(this));
          return;
        }
      } else {
        this._stallSince = null;
      }
      var self = this;
      var all = !stalled && !L.paused;
      this.videos.forEach(function (v) {
        if (v === L || v.error || !(v.duration > t)) return;
        var d = v.currentTime - t;
        if (v.paused) { all = false; self._start(v); return; }
        if (Math.abs(d) > RESYNC) {
          all = false;
          v.currentTime = t;
          return;
        }
        if (all) self.maxDrift = Math.max(self.maxDrift, Math.abs(d));
        var nudge = Math.abs(d) < DEAD_BAND ? 0 : clamp(-GAIN * d, -MAX_NUDGE, MAX_NUDGE);
        var want = self.rate * (1 + Math.round(nudge / RATE_STEP) * RATE_STEP);
        // each rate change costs the audio renderer a little: change only in steps; and a
        // muted video is resampled, not time-stretched (cheaper: fewer stalls under load)
        if (v.preservesPitch !== !v.muted) v.preservesPitch = !v.muted;
        if (Math.abs(v.playbackRate - want) > RATE_STEP / 2) v.playbackRate = want;
      });
      this._ui(false);
    },
    _unhold: function () { this._held = false; },

    /* --- the transport bar ------------------------------------------------------------ */
    _build: function (opts) {
      var self = this;
      var bar = opts.bar || el('div');
      if (!opts.bar) this.videos[0].parentNode.insertBefore(bar, this.videos[0]);
      bar.classList.add('vp-bar');
      this.bar = bar;
      this.wipeAfter = opts.wipeAfter || null; // the wipe view goes after it (else after the bar)
      this.onWipe = opts.onWipe || null; // called with true or false when the wipe view opens
      bar.addEventListener('pointerdown', function () { active = self; });
      this.playBtn = button('▶ Play', 'play / pause all (space)', function () { self.toggle(); },
        'vp-play');
      bar.appendChild(this.playBtn);
      bar.appendChild(button('◀|', 'one frame back (,)', function () { self.step(-1); }));
      bar.appendChild(button('|▶', 'one frame forward (.)', function () { self.step(1); }));
      var track = el('div', 'vp-track');
      this.loopBand = el('div', 'vp-band');
      this.range = el('input', 'vp-seek', null,
        {type: 'range', min: '0', max: '1', step: 'any', value: '0', 'aria-label': 'seek'});
      this.range.addEventListener('input', function () {
        self.seek(parseFloat(self.range.value) * self.duration());
      });
      track.appendChild(this.loopBand);
      track.appendChild(this.range);
      bar.appendChild(track);
      this.clock = el('span', 'vp-time', '0.000 s');
      bar.appendChild(this.clock);
      this.speedSel = el('select', 'vp-speed', null, {title: 'speed', 'aria-label': 'speed'});
      SPEEDS.forEach(function (s) {
        var o = el('option', null, s + 'x', {value: String(s)});
        if (s === 1) o.selected = true;
        self.speedSel.appendChild(o);
      });
      this.speedSel.addEventListener('change', function () {
        self.setRate(parseFloat(self.speedSel.value));
      });
      bar.appendChild(this.speedSel);
      var loop = el('span', 'vp-group');
      loop.appendChild(button('A', 'loop from here', function () {
        self.setLoop(self.time(), self.loopB);
      }, 'vp-a'));
      loop.appendChild(button('B', 'loop up to here', function () {
        self.setLoop(self.loopA, self.time());
      }, 'vp-b'));
      this.abText = el('span', 'vp-ab', '');
      loop.appendChild(this.abText);
      loop.appendChild(button('×', 'clear the A-B loop', function () {
        self.setLoop(null, null);
      }, 'vp-clear'));
      var lab = el('label', 'vp-loopall', null, {title: 'loop the whole clip'});
      this.loopBox = el('input', null, null, {type: 'checkbox'});
      this.loopBox.checked = this.loopAll;
      this.loopBox.addEventListener('change', function () { self.setLoopAll(self.loopBox.checked); });
      lab.appendChild(this.loopBox);
      lab.appendChild(document.createTextNode(' loop'));
      loop.appendChild(lab);
      bar.appendChild(loop);
      if (this.videos.length >= 2) {
        var wipe = el('span', 'vp-group');
        this.wipeBtn = button('Wipe', 'overlay two videos with a divider you can drag (w)',
          function () { self.setWipe(!self.wipe); }, 'vp-wipe-btn');
        wipe.appendChild(this.wipeBtn);
        if (this.videos.length > 2) {
          this.wipeSel = [0, 1].map(function (side) {
            var s = el('select', 'vp-wipe-pick', null, {'aria-label': side ? 'right' : 'left'});
            self.names.forEach(function (n, i) {
              s.appendChild(el('option', null, n, {value: String(i)}));
            });
            s.value = String(self.wipePair[side]);
            s.addEventListener('change', function () {
              self.wipePair[side] = parseInt(s.value, 10);
              if (self.wipe) { self.setWipe(false); self.setWipe(true); }
            });
            return s;
          });
          wipe.appendChild(this.wipeSel[0]);
          wipe.appendChild(document.createTextNode('|'));
          wipe.appendChild(this.wipeSel[1]);
        }
        bar.appendChild(wipe);
      }
      // per video: mute and solo, in the page's slot for it or in the bar
      this.audioBtns = this.videos.map(function (v, i) {
        var slot = opts.slots && opts.slots[i];
        var g = el('span', 'vp-group vp-audio');
        if (!slot) g.appendChild(el('span', 'vp-name', self.names[i]));
        var m = button('M', 'mute ' + self.names[i], function () { self.mute(i); }, 'vp-mute');
        var s = button('S', 'solo ' + self.names[i] + ': hear only it', function () {
          self.solo(i);
        }, 'vp-solo');
        g.appendChild(m);
        g.appendChild(s);
        (slot || bar).appendChild(g);
        return [m, s];
      });
      this._audioUi();
      this._ui(true);
    },
    _audioUi: function () {
      var self = this;
      if (!this.audioBtns) return;
      var heard = this.videos.filter(function (v) { return !v.muted; }).length;
      this.audioBtns.forEach(function (b, i) {
        var v = self.videos[i];
        b[0].classList.toggle('on', v.muted);
        b[0].setAttribute('aria-pressed', String(v.muted));
        b[1].classList.toggle('on', !v.muted && heard === 1);
        b[1].setAttribute('aria-pressed', String(!v.muted && heard === 1));
      });
    },
    _ui: function (force) {
      var now = performance.now();
      if (!force && now - this._lastUi < 100) return;
      this._lastUi = now;
      var t = this.time();
      var d = this.duration();
      this.playBtn.textContent = this.playing() ? '❚❚ Pause' : '▶ Play';
      if (document.activeElement !== this.range) this.range.value = String(d ? t / d : 0);
      this.clock.textContent = fmtTime(t) + ' / ' + fmtTime(d) + ' s · frame ' + frameOf(t);
      var a = this.loopA, b = this.loopB;
      if (a == null && b == null) {
        this.abText.textContent = '';
        this.loopBand.style.display = 'none';
      } else {
        this.abText.textContent = (a == null ? '0' : a.toFixed(2)) + '–' +
          (b == null ? 'end' : b.toFixed(2));
        var lo = a == null ? 0 : a, hi = b == null ? d : b;
        this.loopBand.style.display = d ? 'block' : 'none';
        this.loopBand.style.left = (100 * lo / (d || 1)) + '%';
        this.loopBand.style.width = (100 * (hi - lo) / (d || 1)) + '%';
      }
      this.bar.classList.toggle('vp-looping', a != null || b != null);
    },

    /* --- wipe: two videos overlaid at one size, a divider between them ----------------- */
    setWipe: function (on) {
      var self = this;
      on = !!on && this.videos.length >= 2;
      if (on === this.wipe) return;
      this.wipe = on;
      if (this.wipeBtn) this.wipeBtn.classList.toggle('on', on);
      if (on) {
        var pair = this.wipePair[0] === this.wipePair[1] ? [0, 1] : this.wipePair;
        var box = el('div', 'vp-wipe');
        var a = this.videos[pair[0]], b = this.videos[pair[1]];
        this._wiped = [a, b].map(function (v) {
          var ph = el('div', 'vp-placeholder', 'in the wipe view');
          ph.style.aspectRatio = (v.videoWidth || 16) + ' / ' + (v.videoHeight || 9);
          v.parentNode.replaceChild(ph, v);
          box.appendChild(v);
          return [v, ph];
        });
        box.style.setProperty('--ar', String((a.videoWidth || 16) / (a.videoHeight || 9)));
        b.classList.add('vp-top');
        this.divider = el('div', 'vp-divider');
        box.appendChild(this.divider);
        box.appendChild(el('span', 'vp-label vp-label-l', this.names[pair[0]]));
        box.appendChild(el('span', 'vp-label vp-label-r', this.names[pair[1]]));
        var drag = function (ev) {
          var r = box.getBoundingClientRect();
          self.setSplit((ev.clientX - r.left) / r.width);
        };
        box.addEventListener('pointerdown', function (ev) {
          active = self;
          box.setPointerCapture(ev.pointerId);
          drag(ev);
          box.addEventListener('pointermove', drag);
        });
        box.addEventListener('pointerup', function () {
          box.removeEventListener('pointermove', drag);
        });
        var after = this.wipeAfter || this.bar;
        after.parentNode.insertBefore(box, after.nextSibling);
        this.wipeBox = box;
        this.setSplit(this.split);
      } else {
        this._wiped.forEach(function (pv) {
          pv[0].classList.remove('vp-top');
          pv[0].style.clipPath = '';
          pv[1].parentNode.replaceChild(pv[0], pv[1]);
        });
        this._wiped = null;
        this.wipeBox.remove();
        this.wipeBox = null;
      }
      if (this.onWipe) this.onWipe(on);
      // moving a video can drop a frame of sync: line them up again
      if (this.playing()) this._restart(this.time());
    },
    setSplit: function (x) {
      this.split = clamp(x, 0, 1);
      if (!this.wipeBox) return;
      var pct = (100 * this.split).toFixed(2) + '%';
      this._wiped[1][0].style.clipPath = 'inset(0 0 0 ' + pct + ')';
      this.divider.style.left = pct;
    },

    /* --- keys: space, comma, period (and w for wipe) --------------------------------- */
    key: function (ev) {
      if (ev.ctrlKey || ev.metaKey || ev.altKey) return false;
      if (ev.key === ' ' || ev.key === 'Spacebar') this.toggle();
      else if (ev.key === ',') this.step(-1);
      else if (ev.key === '.') this.step(1);
      else if (ev.key === 'w' && this.videos.length >= 2) this.setWipe(!this.wipe);
      else return false;
      ev.preventDefault();
      return true;
    }
  };

  function typing(target) {
    var tag = target && target.tagName;
    return tag === 'INPUT' && target.type !== 'range' && target.type !== 'checkbox' ||
      tag === 'TEXTAREA' || tag === 'SELECT' || (target && target.isContentEditable);
  }

  global.VeolabPlayer = {
    FPS: FPS,
    FRAME: FRAME,
    players: players,
    create: function (videos, opts) { return new Player(videos, opts); },
    active: function () { return active; },
    typing: typing,
    /* space, comma and period go to the player last clicked (else the first one) */
    installKeys: function () {
      document.addEventListener('keydown', function (ev) {
        if (!active || typing(ev.target)) return;
        active.key(ev);
      });
    }
  };
})(window);
