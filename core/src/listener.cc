#include "ringwire/listener.h"

namespace ringwire {

Listener::Listener(EventLoop& loop, UniqueFd socket, AcceptHandler& handler, LoopStats& stats)
    : loop_(loop), acceptor_(std::move(socket), handler, stats) {}

Listener::~Listener() { close(); }

void Listener::start() { token_ = loop_.add_io(acceptor_.fd(), Interest::kRead, *this); }

void Listener::close() {
  if (!acceptor_.open()) return;
  loop_.cancel_timer(resume_timer_);
  resume_timer_ = kNoTimer;
  if (token_ != 0) loop_.remove_io(token_);
  token_ = 0;
  acceptor_.close();
}

void Listener::on_io(const Event&) {
  if (acceptor_.accept_waiting(loop_.now()) == Acceptor::Result::kPauseAccepting) {
    pause_accepting();
  }
}

void Listener::pause_accepting() {
  if (resume_timer_ != kNoTimer || !acceptor_.open()) return;
  loop_.set_interest(token_, Interest::kNone);
  resume_timer_ = loop_.add_timer_after(Acceptor::kPause, [this] {
    resume_timer_ = kNoTimer;
    acceptor_.pause_ended();
    if (acceptor_.open()) loop_.set_interest(token_, Interest::kRead);
  });
}

}  // namespace ringwire
