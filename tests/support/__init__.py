"""What tests import (the conftest files hold the fixtures): the test settings and signed chats
(`env`), builders of communes, sessions and residents (`world`), real servers (`servers`), local
fakes of Rasa, Telegram and Zalo (`fake_rasa`, `fake_telegram`, `fake_zalo`, on `fakes`)."""
