/* The review page: asks the JSON API (veolab/review/app.py) for a blind pair, plays it in the
 * synchronized player (player.js), sends the vote, reveals the groups briefly, loads the next.
 *
 * Everything shown that comes from the server or the reviewer (names, groups, notes, errors) is
 * set with textContent, never as HTML. A token in the page's URL (?token=...) goes on every API
 * request; the video URLs the API gives carry it already.
 */
(function () {
  'use strict';

  var REVEAL_MS = 1800; // how long the groups stay on screen after a vote
  var NAME_KEY = 'veolab.review.reviewer';
  var CHOICE_TEXT = {left: 'left better', right: 'right better', tie: 'tie', both_bad: 'both bad'};
  var KEY_CHOICE = {ArrowLeft: 'left', ArrowRight: 'right', ArrowDown: 'tie', ArrowUp: 'both_bad'};

  var token = new URLSearchParams(location.search).get('token');
  var config = null;
  var reviewer = null;
  var pair = null; // the pair on screen, null while none
  var busy = false; // a vote in flight or its reveal on screen
  var view = 'review';
  var player = null;

  function $(id) { return document.getElementById(id); }

  function show(el, on) { el.hidden = !on; }

  function api(path, options) {
    var url = path;
    if (token) url += (url.indexOf('?') < 0 ? '?' : '&') + 'token=' + encodeURIComponent(token);
    return fetch(url, options).then(function (r) {
      return r.text().then(function (text) {
        var body = null;
        try { body = text ? JSON.parse(text) : null; } catch (e) { body = null; }
        if (!r.ok) {
          var err = new Error((body && body.error) || ('HTTP ' + r.status + ' from ' + path));
          err.status = r.status;
          throw err;
        }
        return body;
      });
    });
  }

  function message(text, kind) {
    var m = $('message');
    m.textContent = text || '';
    m.className = 'message' + (kind ? ' ' + kind : '');
    show(m, !!text);
  }

  function setProgress(p) {
    if (!p) return;
    var parts = [p.votes + (p.votes === 1 ? ' vote' : ' votes') + ' by you',
      p.seen + ' of ' + p.pairs + ' pairs seen',
      p.all_votes + (p.all_votes === 1 ? ' vote' : ' votes') + ' in all'];
    $('progress').textContent = parts.join(' · ');
  }

  /* --- the reviewer's name --------------------------------------------------------------- */
  function storedName() {
    try { return localStorage.getItem(NAME_KEY); } catch (e) { return null; }
  }

  function setReviewer(name) {
    reviewer = name;
    $('reviewer').textContent = name;
    show($('reviewer-box'), true);
    show($('change-name'), !(config && config.reviewer));
  }

  function askName() {
    reviewer = null;
    pair = null;
    if (player) player.pause();
    show($('review-view'), false);
    show($('ranking-view'), false);
    show($('reviewer-box'), false);
    show($('name-form'), true);
    $('name-input').value = storedName() || '';
    $('name-input').focus();
  }

  $('name-form').addEventListener('submit', function (ev) {
    ev.preventDefault();
    var name = $('name-input').value.trim();
    if (!name) return;
    try { localStorage.setItem(NAME_KEY, name); } catch (e) { /* private mode: this visit */ }
    show($('name-form'), false);
    setReviewer(name);
    showView('review');
  });

  $('change-name').addEventListener('click', function () {
    try { localStorage.removeItem(NAME_KEY); } catch (e) { /* nothing stored */ }
    askName();
  });

  /* --- pairs and votes ------------------------------------------------------------------- */
  function sides() {
    return [['left', $('side-left')], ['right', $('side-right')]];
  }

  function hideGroups() {
    sides().forEach(function (s) {
      var g = s[1].querySelector('.group');
      g.textContent = '';
      show(g, false);
      s[1].classList.remove('chosen', 'revealed');
    });
    $('stage').classList.remove('revealed');
  }

  function setButtons(enabled) {
    document.querySelectorAll('button.vote').forEach(function (b) {
      b.disabled = !enabled;
      b.classList.remove('chosen');
    });
    $('skip').disabled = !enabled;
  }

  function loadPair(skip) {
    pair = null;
    busy = true;
    setButtons(false);
    hideGroups();
    var q = '/api/pair?reviewer=' + encodeURIComponent(reviewer) + (skip ? '&skip=1' : '');
    return api(q).then(function (body) {
      pair = body;
      busy = false;
      message('');
      show($('stage'), true);
      player.setSources([body.left.video, body.right.video]);
      setButtons(true);
      setProgress(body.progress);
      var seed = body.seed == null ? '' : 'seed ' + body.seed;
      $('stage').dataset.pair = body.pair;
      $('stage').title = seed;
    }, function (err) {
      busy = false;
      // 404/409: nothing (more) to judge; anything else: what went wrong, in the server's words
      message(err.message, err.status === 404 || err.status === 409 ? 'info' : 'error');
      if (player) player.pause();
      show($('stage'), false);
    });
  }

  function vote(choice) {
    if (busy || !pair || view !== 'review') return;
    busy = true;
    var shown = pair;
    setButtons(false);
    var btn = document.querySelector('button.vote[data-choice="' + choice + '"]');
    if (btn) btn.classList.add('chosen');
    player.pause();
    var note = $('note').value.trim();
    api('/api/vote', {
      method: 'POST',
      headers: {'Content-Type': 'application/json'},
      body: JSON.stringify({pair: shown.pair, reviewer: reviewer, choice: choice,
        note: note || null})
    }).then(function (body) {
      $('note').value = '';
      setProgress(body.progress);
      reveal(body, choice);
      setTimeout(function () { loadPair(false); }, REVEAL_MS);
    }, function (err) {
      busy = false;
      setButtons(true);
      message('Your vote was not saved: ' + err.message, 'error');
    });
  }

  function reveal(body, choice) {
    $('stage').classList.add('revealed');
    sides().forEach(function (s) {
      var g = s[1].querySelector('.group');
      g.textContent = body[s[0]].group;
      show(g, true);
      s[1].classList.add('revealed');
      if (choice === s[0]) s[1].classList.add('chosen');
    });
    var last = $('last');
    last.textContent = 'Saved: ' + CHOICE_TEXT[choice] + '. Left was ' + body.left.group +
      ', right was ' + body.right.group + '.';
  }

  document.querySelectorAll('button.vote').forEach(function (b) {
    b.addEventListener('click', function () { vote(b.dataset.choice); });
  });
  $('skip').addEventListener('click', function () { if (!busy) loadPair(true); });

  /* --- the ranking ------------------------------------------------------------------------ */
  function num(x, digits) { return x == null ? '–' : Number(x).toFixed(digits); }

  function cell(tr, text, cls) {
    var td = document.createElement('td');
    td.textContent = text;
    if (cls) td.className = cls;
    tr.appendChild(td);
    return td;
  }

  function loadRanking() {
    $('ranking-summary').textContent = 'loading ...';
    return api('/api/ranking').then(function (body) {
      var tbody = $('ranking-table').querySelector('tbody');
      tbody.textContent = '';
      var scored = body.groups.filter(function (g) { return g.lo != null && g.hi != null; });
      var lo = Math.min.apply(null, scored.map(function (g) { return g.lo; }).concat([0]));
      var hi = Math.max.apply(null, scored.map(function (g) { return g.hi; }).concat([0]));
      var span = hi - lo || 1;
      body.groups.forEach(function (g) {
        var tr = document.createElement('tr');
        cell(tr, g.group, 'name');
        cell(tr, num(g.score, 2), 'num');
        var barCell = cell(tr, '', 'bar-col');
        if (g.lo != null && g.hi != null) {
          var track = document.createElement('div');
          track.className = 'bar';
          track.title = '[' + num(g.lo, 2) + ', ' + num(g.hi, 2) + ']';
          var zero = document.createElement('span');
          zero.className = 'zero';
          zero.style.left = (100 * (0 - lo) / span) + '%';
          var range = document.createElement('span');
          range.className = 'range';
          range.style.left = (100 * (g.lo - lo) / span) + '%';
          range.style.width = Math.max(0.5, 100 * (g.hi - g.lo) / span) + '%';
          var dot = document.createElement('span');
          dot.className = 'dot';
          dot.style.left = (100 * (g.score - lo) / span) + '%';
          track.appendChild(zero);
          track.appendChild(range);
          track.appendChild(dot);
          barCell.appendChild(track);
          var text = document.createElement('span');
          text.className = 'interval';
          text.textContent = '[' + num(g.lo, 2) + ', ' + num(g.hi, 2) + ']';
          barCell.appendChild(text);
        } else {
          barCell.textContent = 'too few votes';
        }
        cell(tr, String(g.wins), 'num');
        cell(tr, String(g.losses), 'num');
        cell(tr, String(g.ties), 'num');
        cell(tr, String(g.both_bad), 'num');
        cell(tr, String(g.n), 'num');
        tbody.appendChild(tr);
      });
      $('ranking-summary').textContent = body.votes + (body.votes === 1 ? ' vote' : ' votes') +
        (body.by ? ' · groups by ' + body.by : '');
      var ul = $('reviewers');
      ul.textContent = '';
      (body.reviewers || []).forEach(function (r) {
        var li = document.createElement('li');
        li.textContent = r.reviewer + ': ' + r.votes + (r.votes === 1 ? ' vote' : ' votes');
        ul.appendChild(li);
      });
      var a = body.agreement || {};
      $('agreement').textContent = a.pairs ?
        'Agreement on ' + a.units + ' pairs judged by more than one reviewer: ' +
          Math.round(100 * a.percent) + '% of ' + a.pairs + ' comparisons of two votes agree' +
          (a.alpha == null ? '' : ', Krippendorff\'s alpha ' + num(a.alpha, 2)) + '.' :
        'Agreement: no pair has been judged by two reviewers yet.';
    }, function (err) { message(err.message, 'error'); });
  }

  /* --- views and keys --------------------------------------------------------------------- */
  function showView(name) {
    view = name;
    $('tab-review').classList.toggle('on', name === 'review');
    $('tab-ranking').classList.toggle('on', name === 'ranking');
    $('tab-review').setAttribute('aria-pressed', String(name === 'review'));
    $('tab-ranking').setAttribute('aria-pressed', String(name === 'ranking'));
    show($('review-view'), name === 'review' && !!reviewer);
    show($('ranking-view'), name === 'ranking');
    if (name === 'ranking') {
      if (player) player.pause();
      loadRanking();
    } else if (!reviewer) {
      askName();
    } else if (!pair && !busy) {
      loadPair(false);
    }
  }

  $('tab-review').addEventListener('click', function () { showView('review'); });
  $('tab-ranking').addEventListener('click', function () { showView('ranking'); });

  document.addEventListener('keydown', function (ev) {
    if (ev.key === 'Escape' && VeolabPlayer.typing(ev.target)) { ev.target.blur(); return; }
    if (view !== 'review' || !reviewer || VeolabPlayer.typing(ev.target)) return;
    if (ev.ctrlKey || ev.metaKey || ev.altKey || ev.shiftKey) return;
    var choice = KEY_CHOICE[ev.key];
    if (choice) {
      ev.preventDefault();
      vote(choice);
    } else if (pair) {
      player.key(ev);
    }
  });

  /* --- start ------------------------------------------------------------------------------ */
  player = VeolabPlayer.create([$('video-left'), $('video-right')], {
    bar: $('transport'),
    names: ['Left', 'Right'],
    slots: [$('side-left').querySelector('.audio-slot'), $('side-right').querySelector('.audio-slot')],
    audible: 0,
    loop: true,
    wipeAfter: $('stage'),
    onWipe: function (on) { $('stage').classList.toggle('wiping', on); }
  });

  api('/api/config').then(function (body) {
    config = body;
    $('experiment').textContent = body.experiment + ' · groups by ' + body.by;
    document.title = 'veolab review · ' + body.experiment;
    var name = body.reviewer || storedName();
    if (name) {
      setReviewer(name);
      showView('review');
    } else {
      askName();
    }
  }, function (err) { message(err.message, 'error'); });

  window.veolabReview = {player: player, state: function () {
    return {reviewer: reviewer, pair: pair && pair.pair, busy: busy, view: view};
  }};
})();
