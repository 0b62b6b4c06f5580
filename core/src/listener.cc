#include "ringwire/listener.h"

#include <cerrno>

namespace ringwire {

Listener::Listener(EventLoop& loop, UniqueFd socket, AcceptHandler& handler, LoopStats& stats)
    : loop_(loop), acceptor_(std::move(socket), handler, stats) {}

Listener::~Listener() {
  // The handler may be gone already: nothing is handed to it from here.
  stop_accepting(false);
  // Still waiting for the cancelled accept's last completion: the loop is going away with us.
  if (token_ != 0) loop_.remove_io(token_);
}

void Listener::start() {
  if (loop_.completions()) {
    token_ = loop_.add_io(acceptor_.fd(), Interest::kNone, *this);
    arm();
  } else {
    token_ = loop_.add_io(acceptor_.fd(), Interest::kRead, *this);
  }
}

void Listener::close() { stop_accepting(true); }

void Listener::stop_accepting(bool take_woken) {
  if (!acceptor_.open()) return;
  loop_.cancel_timer(resume_timer_);
  resume_timer_ = kNoTimer;
  if (armed_) {
    // After this the kernel accepts nothing more on the socket; completions already on their way
    // (sockets it accepted) still come to on_io, which hands them over, until the last one.
    loop_.cancel_all_now(token_);
    // io_uring's accept waits on the socket exclusively: an arriving connection wakes one waiting
    // accept only, and the one just cancelled may have been woken for connections it never took.
    // Where the socket listens on elsewhere (a handover's successor), nothing wakes the other
    // accepts for them: they would wait in the backlog until the next connection arrives. So they
    // are taken here, and drained with the rest.
    if (take_woken) acceptor_.accept_waiting(loop_.now(), kListenBacklog);
  } else if (token_ != 0) {
    loop_.remove_io(token_);
    token_ = 0;
  }
  acceptor_.close();
}

void Listener::arm() {
  loop_.submit_accept_multishot(token_, kAccept);
  armed_ = true;
}

void Listener::on_io(const Event& event) {
  if ((event.flags & kEventCompletion) != 0) {
    on_accept_completion(event);
    return;
  }
  if (acceptor_.accept_waiting(loop_.now()) == Acceptor::Result::kPauseAccepting) {
    pause_accepting();
  }
}

void Listener::on_accept_completion(const Event& event) {
  const bool last = (event.flags & kEventMore) == 0;
  if (last) armed_ = false;
  if (!acceptor_.open()) {
    // Closed (draining): a socket the kernel accepted before the cancel, whose completion was still
    // on its way, is served and drained like the rest: closing it would reset its peer's request.
    if (event.result >= 0) acceptor_.accepted(UniqueFd(event.result));
    if (last) {
      loop_.remove_io(token_);
      token_ = 0;
    }
    return;
  }
  if (event.result >= 0) {
    acceptor_.accepted(UniqueFd(event.result));  // the handler may close() us
  } else if (event.result != -ECANCELED && event.result != -EINTR &&
             event.result != -ECONNABORTED &&  // that peer gave up: arm again for the next
             acceptor_.accept_failed(-event.result, loop_.now()) ==
                 Acceptor::Result::kPauseAccepting) {
    pause_accepting();
    return;
  }
  if (last && acceptor_.open() && resume_timer_ == kNoTimer) arm();
}

void Listener::pause_accepting() {
  if (resume_timer_ != kNoTimer || !acceptor_.open()) return;
  if (!loop_.completions()) loop_.set_interest(token_, Interest::kNone);
  resume_timer_ = loop_.add_timer_after(Acceptor::kPause, [this] {
    resume_timer_ = kNoTimer;
    acceptor_.pause_ended();
    if (!acceptor_.open()) return;
    if (loop_.completions()) {
      if (!armed_) arm();
    } else {
      loop_.set_interest(token_, Interest::kRead);
    }
  });
}

}  // namespace ringwire
