// The upload page's progress bar. Without this script the form posts as
// any form does; with it the same request is sent by XMLHttpRequest, whose
// upload events tell how much of the file has gone, and the browser then
// opens the page the console answered with (the new feed, or the error).
'use strict';
(function () {
  const form = document.getElementById('upload');
  const bar = document.getElementById('progress');
  const said = document.getElementById('progress-text');
  if (!form || !bar || !window.XMLHttpRequest) return;
  form.addEventListener('submit', function (e) {
    e.preventDefault();
    const xhr = new XMLHttpRequest();
    xhr.open('POST', form.action);
    xhr.upload.addEventListener('progress', function (p) {
      if (!p.lengthComputable) return;
      bar.max = p.total;
      bar.value = p.loaded;
      said.textContent = Math.floor((100 * p.loaded) / p.total) + '% sent';
    });
    xhr.upload.addEventListener('load', function () { said.textContent = 'Sent; Roster is reading the file…'; });
    xhr.addEventListener('load', function () {
      // A redirect was followed: show where it led; an error page as it came.
      if (xhr.status < 400 && xhr.responseURL) { window.location.assign(xhr.responseURL); return; }
      document.open();
      document.write(xhr.responseText);
      document.close();
    });
    xhr.addEventListener('error', function () { said.textContent = 'The upload failed: the connection was lost.'; });
    bar.hidden = false;
    form.querySelector('button[type=submit]').disabled = true;
    xhr.send(new FormData(form));
  });
})();
