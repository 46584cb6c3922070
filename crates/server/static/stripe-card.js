// The card form with Stripe Elements (only when Stripe is configured): mounts Stripe's card field,
// confirms the page's SetupIntent with it, then posts the form with the SetupIntent's id; the
// server reads the saved card from Stripe and makes it the default. The card number never reaches
// our server. Loaded as a file (the Content-Security-Policy allows no inline script).
(function () {
  "use strict";
  var form = document.getElementById("stripe-card-form");
  if (!form || !window.Stripe) { return; }
  var stripe = window.Stripe(form.getAttribute("data-publishable-key"));
  var card = stripe.elements().create("card");
  card.mount("#card-element");
  var error = document.getElementById("stripe-error");
  var button = form.querySelector("button[type=submit]");
  function show(message) {
    error.textContent = message;
    error.hidden = false;
    button.disabled = false;
  }
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    button.disabled = true;
    error.hidden = true;
    stripe.confirmCardSetup(form.getAttribute("data-client-secret"), {
      payment_method: { card: card }
    }).then(function (result) {
      if (result.error) { show(result.error.message); return; }
      form.elements.setup_intent.value = result.setupIntent.id;
      form.submit();
    }, function () {
      show("Stripe could not be reached. Check your connection and try again.");
    });
  });
})();
