// The OBS overlay: the question on air with its asker, and the caption of the segment the
// viewers hear now (the publisher says when each segment goes on air). Clears between
// answers.
"use strict";

const overlay = document.getElementById("overlay");
const asker = document.getElementById("asker");
const questionText = document.getElementById("question-text");
const caption = document.getElementById("caption");
let showing = null;

function show(question) {
  if (!question) {
    showing = null;
    overlay.className = "hidden";
    asker.textContent = "";
    questionText.textContent = "";
    caption.textContent = "";
    return;
  }
  if (showing !== question.answer_id) caption.textContent = "";
  showing = question.answer_id;
  asker.textContent = question.name;
  questionText.textContent = question.text;
  overlay.className = "";
}

function listen() {
  const events = new EventSource("/events");
  events.onmessage = (message) => {
    const event = JSON.parse(message.data);
    if (event.type === "question") show(event.question);
    else if (event.type === "caption" && event.answer_id === showing) caption.textContent = event.text;
  };
}

listen();
